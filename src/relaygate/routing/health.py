"""What the gateway has seen of each deployment: a circuit breaker and live latency and throughput.

Circuit: `failures` consecutive failures open it for `cooldown` seconds; after that one request goes
through as a probe (half-open); its success closes the circuit, its failure opens it again. The
clock is passed in, so every rule here is tested without sleeping. Counters since start (attempts,
failures, in flight) are what the admin API shows per deployment.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from relaygate.config import Circuit

EWMA = 0.2  # weight of the newest sample in the moving averages
SAMPLES = 100  # recent times to first byte kept for percentiles
MIN_SAMPLES = 10  # fewer than this and no percentile is claimed


@dataclass(slots=True)
class DeploymentHealth:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False
    ttft: float | None = None  # seconds to the first byte of the answer, moving average
    throughput: float | None = None  # completion tokens per second after the first byte
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    requests: int = 0  # attempts sent since start
    errors: int = 0  # of those, the failures the circuit counted
    in_flight: int = 0

    def ttft_percentile(self, q: float) -> float | None:
        """For hedging: none until there are enough samples to mean something."""
        return self.recent_percentile(q) if len(self.recent) >= MIN_SAMPLES else None

    def recent_percentile(self, q: float) -> float | None:
        """Of the recent times to first byte, however few (for display)."""
        if not self.recent:
            return None
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def state(self, now: float) -> str:
        if self.open_until == 0.0:
            return "closed"
        return "open" if now < self.open_until or self.probing else "half_open"


def _average(old: float | None, sample: float) -> float:
    return sample if old is None else old + EWMA * (sample - old)


class HealthBook:
    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit
        self.deployments: dict[tuple[str, str], DeploymentHealth] = {}

    def of(self, key: tuple[str, str]) -> DeploymentHealth:
        health = self.deployments.get(key)
        if health is None:
            health = self.deployments[key] = DeploymentHealth()
        return health

    def admit(self, key: tuple[str, str], now: float) -> bool:
        """May a request go to this deployment now? Claims the probe of a half-open circuit."""
        health = self.of(key)
        state = health.state(now)
        if state == "half_open":
            health.probing = True
        return state != "open"

    def succeeded(self, key: tuple[str, str], ttft: float, tokens: int = 0, duration: float = 0.0) -> None:
        health = self.of(key)
        health.failures, health.open_until, health.probing = 0, 0.0, False
        health.ttft = _average(health.ttft, ttft)
        health.recent.append(ttft)
        if tokens and duration > ttft:
            health.throughput = _average(health.throughput, tokens / (duration - ttft))

    def failed(self, key: tuple[str, str], now: float) -> bool:
        """Count a failure; True when it opened (or reopened) the circuit."""
        health = self.of(key)
        health.failures += 1
        health.errors += 1
        if health.probing or health.failures >= self.circuit.failures:
            health.open_until, health.probing = now + self.circuit.cooldown, False
            return True
        return False

    def released(self, key: tuple[str, str]) -> None:
        """A claimed probe that never reached the upstream (the request ended first)."""
        self.of(key).probing = False
