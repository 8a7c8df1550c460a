"""/admin/usage: the report `relaygate usage --json` prints, from the daily rollup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaygate.admin.models import UsageQuery, UsageReport
from relaygate.admin.request import AdminRequest, parse_query
from relaygate.metering.report import usage_report

if TYPE_CHECKING:
    from relaygate.admin.api import AdminApi


async def usage(api: AdminApi, request: AdminRequest) -> tuple[int, UsageReport]:
    q = parse_query(UsageQuery, request.query_string)
    report = await usage_report(api.gateway.engine, key=q.key, model=q.model, since=q.since, until=q.until,
                                group_by=q.group_by)
    return 200, UsageReport.model_validate(report)
