"""routing/preferences.py and routing/plan.py: the `provider` object and the order of attempts."""

import collections
import random

import pytest

from relaygate.config import Circuit, Price, Timeout
from relaygate.errors import InvalidRequest, NoMatchingDeployment
from relaygate.providers.registry import TYPES
from relaygate.routing.health import HealthBook
from relaygate.routing.plan import plan_attempts
from relaygate.routing.preferences import MaxPrice, parse_preferences
from relaygate.routing.resolve import Target, Upstream

PROVIDERS = ("a", "b", "c")


def upstream(name: str, kind: str = "openai") -> Upstream:
    return Upstream(name=name, adapter=TYPES[kind], adapter_type=kind, base_url="http://x", keys=("k",),
                    timeout=Timeout(), mount=None, models=(), headers={})


A, B, C = upstream("a"), upstream("b", "deepseek"), upstream("c", "doubao")
CHEAP, DEAR = Price(input=1, output=2), Price(input=5, output=10)


def plan(targets, provider=None, request=None, health=None, seed=1, models=None):
    body = {"model": "m", "messages": [], **(request or {})}
    if provider is not None:
        body["provider"] = provider
    prefs = parse_preferences(body, PROVIDERS)
    return [(t.upstream.name, t.model) for t in plan_attempts(
        [targets, *(models or [])], prefs, body, health or HealthBook(Circuit()), random.Random(seed))]


def test_parses_every_field():
    prefs = parse_preferences({"provider": {
        "order": ["b"], "only": ["a", "b"], "ignore": ["c"], "allow_fallbacks": False, "sort": "latency",
        "require_parameters": True, "max_price": {"prompt": 1, "completion": 2.5}}, "models": ["x"]}, PROVIDERS)
    assert (prefs.order, prefs.only, prefs.ignore, prefs.allow_fallbacks, prefs.sort, prefs.require_parameters,
            prefs.max_price, prefs.models) == (("b",), frozenset({"a", "b"}), frozenset({"c"}), False, "latency",
                                               True, MaxPrice(1, 2.5), ("x",))


@pytest.mark.parametrize("provider", [
    [], "a", {"order": "a"}, {"order": [1]}, {"only": ["zz"]}, {"sort": "speed"}, {"sort": {"by": 3}},
    {"allow_fallbacks": 1}, {"require_parameters": "yes"}, {"max_price": {"prompt": "1"}},
    {"max_price": {"prompt": True}}, {"max_price": {"input": 1}}, {"unknown": 1},
])
def test_rejects_invalid_values(provider):
    with pytest.raises(InvalidRequest):
        parse_preferences({"provider": provider}, PROVIDERS)


@pytest.mark.parametrize("models", ["x", [1], [""], ["m"] * 11])
def test_rejects_invalid_models_arrays(models):
    with pytest.raises(InvalidRequest):
        parse_preferences({"models": models}, PROVIDERS)


def test_catalog_order_without_weights_and_order_preference_first():
    targets = [Target(A, "m1"), Target(B, "m2"), Target(C, "m3")]
    assert plan(targets) == [("a", "m1"), ("b", "m2"), ("c", "m3")]
    assert plan(targets, {"order": ["c", "b"]}) == [("c", "m3"), ("b", "m2"), ("a", "m1")]
    assert plan(targets, {"order": ["c"], "allow_fallbacks": False}) == [("c", "m3")]
    assert plan(targets, {"allow_fallbacks": False}) == [("a", "m1")]


def test_only_ignore_price_and_parameters_filter():
    targets = [Target(A, "m1", price=DEAR), Target(B, "m2", price=CHEAP), Target(C, "m3")]
    assert plan(targets, {"only": ["b", "c"]}) == [("b", "m2"), ("c", "m3")]
    assert plan(targets, {"ignore": ["a"]}) == [("b", "m2"), ("c", "m3")]
    assert plan(targets, {"max_price": {"prompt": 2}}) == [("b", "m2")]  # unknown price: excluded
    assert plan(targets, {"sort": "price"}) == [("b", "m2"), ("a", "m1"), ("c", "m3")]
    assert plan(targets, {"require_parameters": True}, {"seed": 1}) == [("a", "m1")]
    with pytest.raises(NoMatchingDeployment):
        plan(targets, {"max_price": {"completion": 1}})


def test_sort_by_live_latency_and_throughput():
    health = HealthBook(Circuit())
    targets = [Target(A, "m1"), Target(B, "m2"), Target(C, "m3")]
    health.succeeded(("a", "m1"), ttft=0.9, tokens=50, duration=1.9)
    health.succeeded(("b", "m2"), ttft=0.1, tokens=10, duration=1.1)
    assert plan(targets, {"sort": "latency"}, health=health) == [("b", "m2"), ("a", "m1"), ("c", "m3")]
    assert plan(targets, {"sort": "throughput"}, health=health) == [("a", "m1"), ("b", "m2"), ("c", "m3")]


def test_weights_decide_the_first_pick_in_proportion():
    targets = [Target(A, "m1", weight=3), Target(B, "m2", weight=1)]
    firsts = collections.Counter(plan(targets, seed=seed)[0][0] for seed in range(2000))
    assert 0.72 <= firsts["a"] / 2000 <= 0.78


def test_fallback_models_follow_and_duplicates_are_dropped():
    targets = [Target(A, "m1")]
    assert plan(targets, models=[[Target(B, "m2"), Target(A, "m1")]]) == [("a", "m1"), ("b", "m2")]
