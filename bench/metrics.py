"""Micro-benchmark: what accounting one finished request costs on the request path.

Also the access log line per request, as JSON and as text, written to /dev/null.

Compares relaygate's dict-based registry (observability/registry.py) with prometheus-client doing
the same updates (the same series: requests, duration and time-to-first-token histograms, four
token kinds, cost, one attempt), and shows the cost of the record they are fed from. CPU time per
request, the best of several runs (the machine may be shared).

    .venv/bin/python bench/metrics.py          # prometheus-client is measured when installed
"""

from __future__ import annotations

import logging
import os
import time
from decimal import Decimal
from typing import Callable

from relaygate.config import Timeout
from relaygate.metering.record import usage_record
from relaygate.metering.usage import Attempt, UsageRecord
from relaygate.observability.logs import JsonFormatter, TextFormatter, access_fields, log_access
from relaygate.observability.metrics import LATENCY_BUCKETS, TTFT_BUCKETS, GatewayMetrics
from relaygate.providers.registry import TYPES
from relaygate.routing.attempt import AttemptRecord
from relaygate.routing.resolve import Target, Upstream

N = 50_000
RUNS = 5
USAGE = {"prompt_tokens": 120, "completion_tokens": 300, "total_tokens": 420,
         "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 40}}


def best_of(work: Callable[[], None]) -> float:
    """µs of CPU per call, the best of RUNS runs of N calls."""
    best = float("inf")
    for _ in range(RUNS):
        start = time.process_time()
        for _ in range(N):
            work()
        best = min(best, time.process_time() - start)
    return best / N * 1e6


def record() -> UsageRecord:
    return UsageRecord(
        request_id="req_1", key="team-a", model="chat", created_at=None, provider="primary",  # type: ignore[arg-type]
        upstream_model="chat-a", prompt_tokens=120, completion_tokens=300, reasoning_tokens=40, cached_tokens=100,
        cost=Decimal("0.0026"), latency_ms=840, ttft_ms=95, stream=True,
        attempts=(Attempt("primary", "chat-a", 200, 700),),
    )


def ours() -> Callable[[], None]:
    metrics = GatewayMetrics()
    metrics.configure(["chat"], [("primary", "chat-a")])
    finished = record()

    def work() -> None:
        metrics.admitted(True)
        metrics.request_finished(finished, metrics.model_label("chat"))
    return work


def prometheus_client() -> Callable[[], None]:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    requests = Counter("requests", "", ("model", "provider", "status_class", "code"), registry=registry)
    duration = Histogram("duration", "", ("model", "provider", "stream"), buckets=LATENCY_BUCKETS, registry=registry)
    ttft = Histogram("ttft", "", ("model", "provider"), buckets=TTFT_BUCKETS, registry=registry)
    tokens = Counter("tokens", "", ("key", "model", "provider", "kind"), registry=registry)
    cost = Counter("cost", "", ("key", "model", "provider"), registry=registry)
    attempts = Counter("attempts", "", ("provider", "outcome"), registry=registry)
    in_flight = Gauge("in_flight", "", ("stream",), registry=registry)
    r = record()

    def work() -> None:
        in_flight.labels("true").inc()
        in_flight.labels("true").dec()
        requests.labels(r.model, r.provider, "2xx", "none").inc()
        duration.labels(r.model, r.provider, "true").observe(r.latency_ms / 1000)
        ttft.labels(r.model, r.provider).observe(r.ttft_ms / 1000)
        for kind, count in (("prompt", r.prompt_tokens), ("completion", r.completion_tokens),
                            ("reasoning", r.reasoning_tokens), ("cached", r.cached_tokens)):
            tokens.labels(r.key, r.model, r.provider, kind).inc(count)
        cost.labels(r.key, r.model, r.provider).inc(float(r.cost))
        attempts.labels("primary", "ok").inc()
    return work


def building_the_record() -> Callable[[], None]:
    upstream = Upstream(name="primary", adapter=TYPES["openai"], adapter_type="openai", base_url="http://x",
                        keys=("k",), timeout=Timeout(), mount=None, models=(), headers={}, model_defaults={},
                        stream_only=frozenset())
    target = Target(upstream, "gpt-4o-mini")
    attempts = [AttemptRecord("primary", "gpt-4o-mini", 200, None, 0.7)]

    def work() -> None:
        usage_record(request_id="req_1", key="team-a", model="chat", target=target, usage=USAGE, attempts=attempts,
                     status=200, error_code=None, stream=True, latency=0.84, ttft=0.095)
    return work


def access_line(formatter: logging.Formatter) -> Callable[[], None]:
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - open for the whole run
    handler.setFormatter(formatter)
    log = logging.getLogger("bench.access")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False  # as configure_logging does
    finished = record()

    def work() -> None:
        log_access(log, access_fields(finished))
    return work


def main() -> None:
    print(f"relaygate registry, one request's updates: {best_of(ours()):.2f} µs")
    try:
        print(f"prometheus-client, the same updates:      {best_of(prometheus_client()):.2f} µs")
    except ImportError:
        print("prometheus-client: not installed")
    print(f"usage_record() for the request:           {best_of(building_the_record()):.2f} µs")
    print(f"access line, JSON, to /dev/null:          {best_of(access_line(JsonFormatter(['sk-secret']))):.2f} µs")
    print(f"access line, text, to /dev/null:          {best_of(access_line(TextFormatter(['sk-secret']))):.2f} µs")


if __name__ == "__main__":
    main()
