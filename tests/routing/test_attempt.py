"""routing/attempt.py: the attempt loop with fake calls and a fake clock."""

import asyncio

import pytest

from relaygate.config import Backoff, Circuit, Routing, Timeout
from relaygate.errors import (
    NoHealthyUpstream, UpstreamAuthError, UpstreamClientError, UpstreamError, UpstreamTimeout,
)
from relaygate.providers.registry import TYPES
from relaygate.routing.attempt import Outcome, Router
from relaygate.routing.resolve import Target, Upstream


def upstream(name: str, keys=("k1",)) -> Upstream:
    return Upstream(name=name, adapter=TYPES["openai"], adapter_type="openai", base_url="http://x", keys=keys,
                    timeout=Timeout(), mount=None, models=(), headers={})


def router(**routing) -> Router:
    settings = {"max_attempts": 3, "backoff": Backoff(initial=0.001, max=0.01), "circuit": Circuit(failures=2), **routing}
    return Router(Routing(**settings))


def script(*results):
    """A call that gives these results in turn (an exception is raised), recording (provider, key)."""
    calls, queue = [], list(results)

    async def call(target, key, lease):
        calls.append((target.upstream.name, key))
        result = queue.pop(0)
        if isinstance(result, Exception):
            raise result
        assert lease.claim()
        return result, Outcome(ttft=0.01)
    return call, calls


def run(r: Router, plan, call):
    attempts = []
    return asyncio.run(r.run(plan, call, attempts)), attempts


def test_falls_back_in_order_and_records_each_attempt():
    a, b = Target(upstream("a"), "m"), Target(upstream("b"), "m")
    call, calls = script(UpstreamError("boom"), "ok")
    result, attempts = run(router(), [a, b], call)
    assert result == "ok" and [c[0] for c in calls] == ["a", "b"]
    assert [(x.provider, x.status) for x in attempts] == [("a", 502), ("b", 200)]


def test_client_errors_stop_at_once():
    call, calls = script(UpstreamClientError(400, {"error": {"message": "bad"}}), "ok")
    with pytest.raises(UpstreamClientError):
        run(router(), [Target(upstream("a"), "m"), Target(upstream("b"), "m")], call)
    assert len(calls) == 1


def test_gives_up_after_max_attempts_with_the_last_error():
    call, calls = script(UpstreamError("1"), UpstreamTimeout("2"), UpstreamError("3"), "never")
    with pytest.raises(UpstreamError, match="3"):
        run(router(circuit=Circuit(failures=10)), [Target(upstream("a"), "m")], call)
    assert len(calls) == 3


def test_a_long_retry_after_is_passed_to_the_client_rather_than_waited_for():
    call, calls = script(UpstreamClientError(429, {"error": {"message": "slow down"}}, retry_after="30"), "ok")
    with pytest.raises(UpstreamClientError):
        run(router(), [Target(upstream("a"), "m")], call)
    assert len(calls) == 1


def test_rejected_key_rests_and_the_next_key_is_used():
    target = Target(upstream("a", keys=("k1", "k2")), "m")
    call, calls = script(UpstreamAuthError("no"), "ok", "ok")
    r = router()
    run(r, [target], call)
    run(r, [target], call)
    assert calls == [("a", "k1"), ("a", "k2"), ("a", "k2")]


def test_open_circuits_are_skipped_and_all_open_is_no_healthy_upstream():
    a, b = Target(upstream("a"), "m"), Target(upstream("b"), "m")
    r = router()
    with pytest.raises(UpstreamError):  # two failures open a's circuit
        run(r, [a], script(UpstreamError("1"), UpstreamError("2"), UpstreamError("3"))[0])
    result, attempts = run(r, [a, b], script("ok")[0])
    assert [x.provider for x in attempts] == ["b"]
    with pytest.raises(NoHealthyUpstream):
        run(r, [a], script("ok")[0])


def timed(results: dict[str, tuple[float, object]]):
    """A call whose answer from each provider comes after a delay; records starts and cancellations."""
    events = []

    async def call(target, key, lease):
        name = target.upstream.name
        events.append(("start", name))
        delay, result = results[name]
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            events.append(("cancelled", name))
            raise
        if isinstance(result, Exception):
            raise result
        if not lease.claim():
            raise AssertionError("a loser must have been cancelled before it could claim")
        return result, Outcome(ttft=delay)
    return call, events


def test_hedge_starts_a_second_deployment_and_the_first_answer_wins():
    a, b = Target(upstream("a"), "m"), Target(upstream("b"), "m")
    call, events = timed({"a": (0.5, "slow"), "b": (0.01, "fast")})
    r = router()
    attempts = []
    result = asyncio.run(r.run([a, b], call, attempts, hedge_after=0.05))
    assert result == "fast"
    assert events == [("start", "a"), ("start", "b"), ("cancelled", "a")]
    assert [(x.provider, x.status, x.error) for x in attempts] == [("b", 200, None), ("a", 0, "hedge_lost")]


def test_no_hedge_when_the_first_answers_in_time():
    a, b = Target(upstream("a"), "m"), Target(upstream("b"), "m")
    call, events = timed({"a": (0.01, "a"), "b": (0.01, "b")})
    assert asyncio.run(router().run([a, b], call, [], hedge_after=0.2)) == "a"
    assert events == [("start", "a")]


def test_a_failed_hedge_falls_back_to_the_rest_of_the_plan():
    a, b, c = (Target(upstream(n), "m") for n in "abc")
    call, events = timed({"a": (0.2, UpstreamError("a")), "b": (0.01, UpstreamError("b")), "c": (0.01, "c")})
    assert asyncio.run(router().run([a, b, c], call, [], hedge_after=0.05)) == "c"


def test_p95_hedge_delay_needs_enough_samples():
    r = router()
    a = Target(upstream("a"), "m")
    assert r.hedge_delay("p95", [a]) is None
    for i in range(20):
        r.health.succeeded(a.key, ttft=0.01 * (i + 1))
    assert r.hedge_delay("p95", [a]) == 0.2
    assert r.hedge_delay(0.5, [a]) == 0.5 and r.hedge_delay(None, [a]) is None
