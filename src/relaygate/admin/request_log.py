"""/admin/requests: one row per client request from the usage records, newest first, paged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaygate.admin.models import RequestPage, RequestQuery
from relaygate.admin.request import AdminRequest, parse_query
from relaygate.metering.request_log import RequestFilter, recent_requests

if TYPE_CHECKING:
    from relaygate.admin.api import AdminApi


async def requests(api: AdminApi, request: AdminRequest) -> tuple[int, RequestPage]:
    q = parse_query(RequestQuery, request.query_string)
    where = RequestFilter(key=q.key, model=q.model, provider=q.provider, client_request_id=q.client_request_id,
                          status=q.status, since=q.since, until=q.until)
    rows, more = await recent_requests(api.gateway.engine, where, q.limit, q.before)
    return 200, RequestPage.model_validate({"data": rows, "has_more": more})
