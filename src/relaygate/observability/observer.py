"""The one hook the request path calls when a chat request is admitted, settled or refused; it
feeds the metrics and the access log (and traces, when configured) from the request's record."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from relaygate.errors import GatewayError
from relaygate.metering.usage import UsageRecord
from relaygate.observability.logs import ACCESS, access_fields, log_access, refusal_fields
from relaygate.observability.metrics import GatewayMetrics, configured_deployments, configured_models

if TYPE_CHECKING:
    from relaygate.config import Config
    from relaygate.governance.keys import ClientKey
    from relaygate.routing.resolve import Resolver


class Observer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = GatewayMetrics()
        self.access = logging.getLogger(ACCESS)
        self.content = config.logging.content

    def open(self, resolver: Resolver) -> None:
        self.metrics.configure(configured_models(resolver), configured_deployments(resolver))

    def admitted(self, stream: bool) -> None:
        self.metrics.admitted(stream)

    def finished(self, record: UsageRecord, body: dict[str, Any]) -> None:
        self.metrics.request_finished(record, self.metrics.model_label(record.model))
        if self.access.isEnabledFor(logging.INFO):
            fields = access_fields(record)
            if self.content:
                fields["messages"] = body.get("messages")
            log_access(self.access, fields)

    def refused(self, request_id: bytes, key: ClientKey | None, body: Any, exc: GatewayError, began: float) -> None:
        model = body.get("model") if isinstance(body, dict) else None
        self.metrics.request_refused(self.metrics.model_label(model), exc.status, exc.code)
        if self.access.isEnabledFor(logging.INFO):
            fields = refusal_fields(request_id.decode(), key.name if key is not None else None, model, exc.status,
                                    exc.code, round((time.monotonic() - began) * 1000))
            log_access(self.access, fields)
