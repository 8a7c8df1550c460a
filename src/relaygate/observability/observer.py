"""The one hook the request path calls when a chat request is admitted, settled or refused; it
feeds the metrics (and the access log and traces, when configured) from the request's record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relaygate.errors import GatewayError
from relaygate.metering.usage import UsageRecord
from relaygate.observability.metrics import GatewayMetrics, configured_deployments, configured_models

if TYPE_CHECKING:
    from relaygate.config import Config
    from relaygate.routing.resolve import Resolver


class Observer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = GatewayMetrics()

    def open(self, resolver: Resolver) -> None:
        self.metrics.configure(configured_models(resolver), configured_deployments(resolver))

    def admitted(self, stream: bool) -> None:
        self.metrics.admitted(stream)

    def finished(self, record: UsageRecord) -> None:
        self.metrics.request_finished(record, self.metrics.model_label(record.model))

    def refused(self, model: Any, exc: GatewayError) -> None:
        self.metrics.request_refused(self.metrics.model_label(model), exc.status, exc.code)
