"""OpenTelemetry traces, when `tracing.otlp_endpoint` is set and the `otel` extra is installed:
one SERVER span per chat request and a CLIENT span per upstream attempt beneath it.

Spans are made after the request, from its usage record and attempt list (times carried back from
the monotonic clock), so the request path holds no span open and pays nothing while tracing is
off. The SDK's batch processor exports from its own thread. Attribute names follow OpenTelemetry's
GenAI and HTTP semantic conventions where one fits (`gen_ai.*`, `http.response.status_code`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from relaygate.config import Tracing
from relaygate.metering.usage import UsageRecord
from relaygate.routing.attempt import AttemptRecord

log = logging.getLogger("relaygate.tracing")


class RequestTracer:
    def __init__(self, settings: Tracing) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

        endpoint = settings.otlp_endpoint or ""
        if not endpoint.rstrip("/").endswith("/v1/traces"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        self.provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint,
                                                                             headers=settings.headers)))
        self.tracer = self.provider.get_tracer("relaygate")
        self.kinds = (SpanKind.SERVER, SpanKind.CLIENT)
        self.error = Status(StatusCode.ERROR)
        self.in_context = set_span_in_context

    def finished(self, record: UsageRecord, attempts: Iterable[AttemptRecord], began: float) -> None:
        """`began` and the attempts' start times are on the monotonic clock (the router's)."""
        end = time.time_ns()
        offset = end - time.monotonic_ns()  # wall clock minus monotonic clock
        span = self._request_span(record, offset + int(began * 1e9), {
            "gen_ai.provider.name": record.provider, "gen_ai.response.model": record.upstream_model,
            "gen_ai.usage.input_tokens": record.prompt_tokens, "gen_ai.usage.output_tokens": record.completion_tokens,
            "relaygate.usage.reasoning_tokens": record.reasoning_tokens,
            "relaygate.usage.cached_tokens": record.cached_tokens, "relaygate.cost_usd": float(record.cost),
            "relaygate.attempts": len(record.attempts),
        })
        context = self.in_context(span)
        for attempt in attempts:
            start = offset + int(attempt.started * 1e9)
            child = self.tracer.start_span(f"upstream {attempt.provider}", context=context, kind=self.kinds[1],
                                           start_time=start, attributes=_clean({
                                               "gen_ai.provider.name": attempt.provider,
                                               "gen_ai.request.model": attempt.model,
                                               "http.response.status_code": attempt.status or None,
                                               "error.type": attempt.error}))
            if attempt.error is not None:
                child.set_status(self.error)
            child.end(end_time=start + int(attempt.seconds * 1e9))
        span.end(end_time=end)

    def refused(self, request_id: str, client_request_id: str | None, key: str | None, model: Any, status: int,
                code: str, began: float) -> None:
        end = time.time_ns()
        record = UsageRecord(request_id=request_id, client_request_id=client_request_id,
                             key=key or "", model=model if isinstance(model, str) else "",
                             created_at=None, status=status, error_code=code)  # type: ignore[arg-type]
        self._request_span(record, end - time.monotonic_ns() + int(began * 1e9), {}).end(end_time=end)

    def _request_span(self, record: UsageRecord, start: int, extra: dict[str, Any]) -> Any:
        span = self.tracer.start_span(f"chat {record.model}", kind=self.kinds[0], start_time=start, attributes=_clean({
            "gen_ai.operation.name": "chat", "gen_ai.request.model": record.model,
            "http.response.status_code": record.status, "error.type": record.error_code,
            "relaygate.request_id": record.request_id, "relaygate.client_request_id": record.client_request_id,
            "relaygate.key": record.key or None,
            "relaygate.stream": record.stream, **extra,
        }))
        if record.status >= 500:
            span.set_status(self.error)
        return span

    def close(self) -> None:
        """Export what is still queued."""
        self.provider.shutdown()


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}


def open_tracer(settings: Tracing) -> RequestTracer | None:
    """The tracer, or None when tracing is off or the `otel` extra is missing (with a warning)."""
    if not settings.otlp_endpoint:
        return None
    try:
        return RequestTracer(settings)
    except ImportError:
        log.warning("tracing.otlp_endpoint is set but OpenTelemetry is not installed "
                    "(pip install 'relaygate[otel]'); serving without traces")
        return None
