"""The one hook the request path calls when a chat request is admitted, settled or refused; it
feeds the metrics, the access log and (when configured) traces from the request's record."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from relaygate.errors import GatewayError
from relaygate.ingress.http import Headers, client_request_id
from relaygate.metering.usage import UsageRecord
from relaygate.observability.logs import ACCESS, access_fields, access_text, access_writer, log_access, refusal_fields
from relaygate.observability.metrics import GatewayMetrics, configured_deployments, configured_models
from relaygate.observability.tracing import RequestTracer, open_tracer

if TYPE_CHECKING:
    from relaygate.config import Config
    from relaygate.governance.keys import ClientKey
    from relaygate.routing.attempt import AttemptRecord
    from relaygate.routing.resolve import Resolver


class Observer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = GatewayMetrics()
        self.access = logging.getLogger(ACCESS)
        self.writer = access_writer()  # the fast path; without it, lines go through the logging module
        self.content = config.logging.content
        self.tracer: RequestTracer | None = None

    def open(self, resolver: Resolver) -> None:
        self.metrics.configure(configured_models(resolver), configured_deployments(resolver))
        self.tracer = open_tracer(self.config.tracing)

    def _log(self, fields: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.write(fields)
        else:
            log_access(self.access, fields)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
        if self.tracer is not None:
            self.tracer.close()

    def admitted(self, stream: bool) -> None:
        self.metrics.admitted(stream)

    def finished(self, record: UsageRecord, body: dict[str, Any], attempts: list[AttemptRecord],
                 began: float) -> None:
        """A settled request; `began` is its start on the monotonic clock."""
        self.metrics.request_finished(record, self.metrics.model_label(record.model))
        if self.writer is not None and not self.writer.json and not self.content:
            self.writer.write_text(access_text(record))
        elif self.writer is not None or self.access.isEnabledFor(logging.INFO):
            fields = access_fields(record)
            if self.content:
                fields["messages"] = body.get("messages")
            self._log(fields)
        if self.tracer is not None:
            self.tracer.finished(record, attempts, began)

    def refused(self, headers: Headers, key: ClientKey | None, body: Any, exc: GatewayError, began: float) -> None:
        """A request refused before it was admitted; `headers` are its response's (its ids first)."""
        model = body.get("model") if isinstance(body, dict) else None
        request_id, client_id = headers[0][1].decode(), client_request_id(headers)
        self.metrics.request_refused(self.metrics.model_label(model), exc.status, exc.code)
        latency_ms = round((time.monotonic() - began) * 1000)
        key_name = key.name if key is not None else None
        if self.writer is not None or self.access.isEnabledFor(logging.INFO):
            self._log(refusal_fields(request_id, client_id, key_name, model, exc.status, exc.code, latency_ms))
        if self.tracer is not None:
            self.tracer.refused(request_id, client_id, key_name, model, exc.status, exc.code, began)
