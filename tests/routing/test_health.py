"""routing/health.py: the circuit breaker and the live measurements, with a clock passed in."""

from relaygate.config import Circuit
from relaygate.routing.health import HealthBook

KEY = ("a", "m")


def book() -> HealthBook:
    return HealthBook(Circuit(failures=3, cooldown=10))


def test_consecutive_failures_open_the_circuit_for_the_cooldown():
    health = book()
    assert [health.failed(KEY, now=0) for _ in range(3)] == [False, False, True]
    assert health.of(KEY).state(5) == "open" and not health.admit(KEY, 5)
    assert health.of(KEY).state(10) == "half_open"


def test_a_success_resets_the_count():
    health = book()
    health.failed(KEY, 0)
    health.failed(KEY, 0)
    health.succeeded(KEY, ttft=0.1)
    assert health.failed(KEY, 0) is False and health.of(KEY).state(0) == "closed"


def test_half_open_lets_one_probe_through_and_its_result_decides():
    health = book()
    for _ in range(3):
        health.failed(KEY, 0)
    assert health.admit(KEY, 11) is True  # the probe
    assert health.admit(KEY, 11) is False  # others wait for its result
    assert health.failed(KEY, 11) is True and health.of(KEY).state(15) == "open"
    assert health.admit(KEY, 21) is True
    health.succeeded(KEY, ttft=0.2)
    assert health.of(KEY).state(21) == "closed" and health.admit(KEY, 21)


def test_a_released_probe_can_be_claimed_again():
    health = book()
    for _ in range(3):
        health.failed(KEY, 0)
    assert health.admit(KEY, 11)
    health.released(KEY)
    assert health.admit(KEY, 11)


def test_latency_and_throughput_are_moving_averages():
    health = book()
    health.succeeded(KEY, ttft=1.0, tokens=100, duration=2.0)
    assert (health.of(KEY).ttft, health.of(KEY).throughput) == (1.0, 100.0)
    health.succeeded(KEY, ttft=2.0, tokens=0)
    assert health.of(KEY).ttft == 1.2 and health.of(KEY).throughput == 100.0
