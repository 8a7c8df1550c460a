"""relaygate's Prometheus metrics, every name declared here.

Counters and histograms are updated once per request, when it is settled (`request_finished`,
`request_refused`); nothing is touched per streamed chunk. Gauges (circuits, requests in flight,
Redis, the usage journal's backlog) are read from the gateway's state when `/metrics` is scraped.
With `serve --workers N` a scrape adds the other workers' series (observability/workers.py).

Label values are bounded: key names come from the key store, `model` is a configured model id
(anything else a client sent is `other`), `provider` a configured provider (`none` when no
deployment answered), `code` an error code of errors.py (`none` on success). No request ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from relaygate.metering.usage import UsageRecord
from relaygate.observability.registry import Counter, Family, Gauge, Histogram, exposition
from relaygate.observability.workers import WorkerFiles, merged

if TYPE_CHECKING:
    from relaygate.app import Gateway

OTHER = "other"
NONE = "none"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
TOKEN_KINDS = ("prompt", "completion", "reasoning", "cached")


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class GatewayMetrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "relaygate_requests_total", "Chat completion requests by outcome.",
            ("model", "provider", "status_class", "code"))
        self.duration = Histogram(
            "relaygate_request_duration_seconds", "Time from request to the end of its answer.",
            ("model", "provider", "stream"), LATENCY_BUCKETS)
        self.ttft = Histogram(
            "relaygate_time_to_first_token_seconds", "Time from request to the first streamed event.",
            ("model", "provider"), TTFT_BUCKETS)
        self.tokens = Counter(
            "relaygate_tokens_total", "Tokens by kind (prompt includes cached, completion includes reasoning).",
            ("key", "model", "provider", "kind"))
        self.cost = Counter("relaygate_cost_usd_total", "USD charged to keys.", ("key", "model", "provider"))
        self.attempts = Counter(
            "relaygate_upstream_attempts_total", "Attempts at upstream deployments by outcome (ok or error code).",
            ("provider", "outcome"))
        self.fallbacks = Counter(
            "relaygate_fallbacks_total", "Failed attempts followed by another attempt within the same request.",
            ("model", "from_provider", "to_provider"))
        self.in_flight = [0, 0]  # [requests not streamed, streams] admitted and not yet settled
        self.workers: WorkerFiles | None = None  # with `serve --workers N`: the other workers' series
        self.models: frozenset[str] = frozenset()
        self.deployments: tuple[tuple[str, str], ...] = ()

    def configure(self, models: Iterable[str], deployments: Iterable[tuple[str, str]]) -> None:
        """The configured model ids (usable as label values) and deployments (with a circuit gauge)."""
        self.models = frozenset(models)
        self.deployments = tuple(dict.fromkeys(deployments))

    def model_label(self, model: Any) -> str:
        if model in self.models:
            return model
        if isinstance(model, str) and model.removesuffix("-thinking") in self.models:
            return model  # the -thinking alias of a configured model (routing/resolve.py)
        return OTHER

    def admitted(self, stream: bool) -> None:
        self.in_flight[stream] += 1

    def request_finished(self, record: UsageRecord, model: str) -> None:
        """A settled request (admitted earlier): one update per series it touches."""
        provider = record.provider or NONE
        self.in_flight[record.stream] -= 1
        self.requests.inc((model, provider, status_class(record.status), record.error_code or NONE))
        if record.latency_ms is not None:
            self.duration.observe((model, provider, "true" if record.stream else "false"), record.latency_ms / 1000)
        if record.stream and record.ttft_ms is not None:
            self.ttft.observe((model, provider), record.ttft_ms / 1000)
        if record.prompt_tokens or record.completion_tokens:
            self._tokens(record, model, provider)
        self._attempts(record, model)

    def _tokens(self, record: UsageRecord, model: str, provider: str) -> None:
        counts = (record.prompt_tokens, record.completion_tokens, record.reasoning_tokens, record.cached_tokens)
        for kind, count in zip(TOKEN_KINDS, counts):
            if count:
                self.tokens.inc((record.key, model, provider, kind), count)
        if record.cost:
            self.cost.inc((record.key, model, provider), float(record.cost))

    def _attempts(self, record: UsageRecord, model: str) -> None:
        attempts = record.attempts
        for i, attempt in enumerate(attempts):
            self.attempts.inc((attempt.provider, attempt.error or "ok"))
            if attempt.error is not None and attempt.error != "hedge_lost" and i + 1 < len(attempts):
                self.fallbacks.inc((model, attempt.provider, attempts[i + 1].provider))

    def request_refused(self, model: str, status: int, code: str) -> None:
        """A request answered with an error before it was admitted (key, body, model, limits)."""
        self.requests.inc((model, NONE, status_class(status), code))

    def render(self, gateway: Gateway) -> bytes:
        if self.workers is None:
            return exposition(self.families(gateway))
        return exposition(merged(self.families(gateway), self.workers.others()))

    def families(self, gateway: Gateway) -> Iterable[Family]:
        """This process's series, gauges read now."""
        yield from (self.requests, self.duration, self.ttft, self.tokens, self.cost, self.attempts, self.fallbacks)
        yield self._circuits(gateway)
        in_flight = Gauge("relaygate_requests_in_flight", "Chat completion requests being answered, streams included.")
        in_flight.set((), sum(self.in_flight))
        streams = Gauge("relaygate_streams_in_flight", "Streamed chat completions being answered.")
        streams.set((), self.in_flight[True])
        yield from (in_flight, streams)
        redis_up = getattr(gateway, "redis_up", None)
        if redis_up is not None:
            gauge = Gauge("relaygate_redis_up", "1 while the configured Redis answers, else 0.")
            gauge.set((), int(bool(redis_up)))
            yield gauge
        if gateway.meter is not None:
            backlog = Gauge("relaygate_usage_journal_backlog_bytes",
                            "Usage journal bytes not yet written to the database.")
            backlog.set((), max(0, gateway.meter.journal.size() - gateway.meter.writer.cursor.offset))
            yield backlog

    def _circuits(self, gateway: Gateway) -> Gauge:
        gauge = Gauge("relaygate_circuit_state",
                      "Circuit of each configured deployment: 0 closed, 1 half-open, 2 open.", ("provider", "model"))
        health = gateway.router.health
        now = gateway.router.clock()
        for key in self.deployments:
            known = health.deployments.get(key)
            gauge.set(key, CIRCUIT_VALUES[known.state(now)] if known is not None else 0)
        return gauge


def configured_models(resolver: Any) -> set[str]:
    """Every model id a client may send that names configuration: catalog ids, the models providers
    list (bare and as `provider/model`), and the catalog deployments' native names (under mounts)."""
    models = set(resolver.catalog)
    for upstream in resolver.upstreams.values():
        models.update(upstream.models)
        models.update(f"{upstream.name}/{name}" for name in upstream.models)
    for targets in resolver.catalog.values():
        models.update(t.model for t in targets)
    return models


def configured_deployments(resolver: Any) -> list[tuple[str, str]]:
    keys = [t.key for targets in resolver.catalog.values() for t in targets]
    keys += [(upstream.name, name) for upstream in resolver.upstreams.values() for name in upstream.models]
    return keys
