"""governance/limits.py: RPM, TPM and concurrency, with the clock passed in."""

import pytest

from relaygate.governance.limits import KeyLimits, MemoryLimiter, duration, estimate_prompt_tokens


def headers(verdict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in verdict.headers}


def test_a_burst_of_n_plus_k_admits_exactly_n():
    limiter, limits = MemoryLimiter(), KeyLimits(rpm=60)
    verdicts = [limiter.admit("k", limits, 1, now=100.0) for _ in range(65)]
    assert sum(v.allowed for v in verdicts) == 60
    refused = verdicts[-1]
    assert refused.reason == "requests" and refused.retry_after == pytest.approx(1.0)
    assert headers(refused)["x-ratelimit-remaining-requests"] == "0"


def test_the_allowance_comes_back_evenly_over_the_minute():
    limiter, limits = MemoryLimiter(), KeyLimits(rpm=60)
    for _ in range(60):
        limiter.admit("k", limits, 1, now=0.0)
    assert not limiter.admit("k", limits, 1, now=0.5).allowed
    assert limiter.admit("k", limits, 1, now=1.0).allowed
    assert headers(limiter.admit("k", limits, 1, now=30.0))["x-ratelimit-remaining-requests"] == "28"


def test_keys_do_not_share_limits():
    limiter, limits = MemoryLimiter(), KeyLimits(rpm=1)
    assert limiter.admit("a", limits, 1, now=0).allowed and limiter.admit("b", limits, 1, now=0).allowed
    assert not limiter.admit("a", limits, 1, now=0).allowed


def test_tokens_are_reserved_then_settled_with_real_usage():
    limiter, limits = MemoryLimiter(), KeyLimits(tpm=1000)
    assert limiter.admit("k", limits, 800, now=0).allowed
    assert not limiter.admit("k", limits, 300, now=0).allowed  # 800 + 300 > 1000
    limiter.settle("k", limits, reserved=800, used=100, now=0)  # the answer used only 100
    verdict = limiter.admit("k", limits, 300, now=0)
    assert verdict.allowed and headers(verdict)["x-ratelimit-remaining-tokens"] == "600"


def test_a_token_refusal_does_not_spend_a_request():
    limiter, limits = MemoryLimiter(), KeyLimits(rpm=2, tpm=100)
    assert limiter.admit("k", limits, 100, now=0).allowed
    refused = limiter.admit("k", limits, 50, now=0)
    assert refused.reason == "tokens" and not refused.allowed
    assert headers(limiter.admit("k", KeyLimits(rpm=2), 1, now=0))["x-ratelimit-remaining-requests"] == "0"


def test_concurrency_is_held_until_settled():
    limiter, limits = MemoryLimiter(), KeyLimits(max_concurrency=2)
    assert limiter.admit("k", limits, 1, 0).allowed and limiter.admit("k", limits, 1, 0).allowed
    assert limiter.admit("k", limits, 1, 0).reason == "concurrency"
    limiter.settle("k", limits, 1, None, 0)
    assert limiter.admit("k", limits, 1, 0).allowed


def test_headers_follow_openai_names_and_reset_format():
    limiter = MemoryLimiter()
    verdict = limiter.admit("k", KeyLimits(rpm=10, tpm=1000), 100, now=0)
    assert headers(verdict) == {
        "x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "9", "x-ratelimit-reset-requests": "6s",
        "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "6s",
    }
    assert (duration(0.12), duration(61), duration(360)) == ("120ms", "1m1s", "6m0s")
    assert estimate_prompt_tokens(b"x" * 400) == 100 and estimate_prompt_tokens(b"") == 1
