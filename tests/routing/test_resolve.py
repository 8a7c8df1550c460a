"""routing/resolve.py: the contract's four model-addressing rules, in order."""

from __future__ import annotations

from typing import Any

import pytest

from relaygate.config import Timeout, parse_config
from relaygate.errors import ModelNotFound
from relaygate.providers.registry import TYPES
from relaygate.routing.resolve import Resolver, Target, Upstream

PROVIDERS: dict[str, dict[str, Any]] = {
    "deepseek": {"type": "deepseek", "base_url": "https://api.deepseek.com/v1", "mount": "/deepseek/v1",
                 "models": ["deepseek-chat", "deepseek-reasoner"]},
    "alibaba": {"type": "dashscope", "base_url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                "mount": "/alibaba/compatible-mode/v1", "models": ["qwen-plus", "qwen3-max", "shared-model"]},
    "openai": {"type": "openai", "base_url": "https://api.openai.com/v1", "models": ["gpt-4o", "shared-model"]},
    "ark": {"type": "doubao", "base_url": "https://ark.cn-beijing.volces.com/api/v3"},
}
CATALOG = {
    "qwen-plus": [  # a catalog id that is also a bare name alibaba lists: the catalog wins
        {"provider": "alibaba", "model": "qwen-plus-2025-07-28", "weight": 3},
        {"provider": "deepseek", "model": "deepseek-chat", "weight": 1},
    ],
    "fast": [{"provider": "ark", "model": "doubao-seed-1-6-flash-250828"}],
    "openai/gpt-4o": [{"provider": "alibaba", "model": "qwen-max"}],  # a catalog id shaped like provider/model
    "shared-model": [{"provider": "openai", "model": "gpt-4o-mini"}],
}


def upstream(name: str, spec: dict[str, Any]) -> Upstream:
    adapter = TYPES[spec["type"]]
    return Upstream(
        name=name, adapter=adapter, adapter_type=spec["type"], base_url=spec["base_url"], keys=tuple(spec.get("keys", ())),
        timeout=Timeout(), mount=spec.get("mount"), models=tuple(spec.get("models", ())), headers={},
    )


def make_resolver(providers: dict[str, dict[str, Any]], catalog: dict[str, Any]) -> Resolver:
    config, _ = parse_config({"providers": providers, "models": catalog}, environ={})
    return Resolver({name: upstream(name, spec) for name, spec in providers.items()}, config)


@pytest.fixture
def resolver() -> Resolver:
    return make_resolver(PROVIDERS, CATALOG)


def described(targets: list[Target]) -> list[tuple[str, str]]:
    return [(t.upstream.name, t.model) for t in targets]


def test_rule1_under_a_mount_the_model_is_native(resolver: Resolver) -> None:
    scope = resolver.upstreams["alibaba"]
    assert described(resolver.resolve("qwen-vl-max-latest", scope)) == [("alibaba", "qwen-vl-max-latest")]
    # even names that mean something else on /v1 are taken as they are
    assert described(resolver.resolve("qwen-plus", scope)) == [("alibaba", "qwen-plus")]
    assert described(resolver.resolve("fast", scope)) == [("alibaba", "fast")]
    assert described(resolver.resolve("deepseek/deepseek-chat", scope)) == [("alibaba", "deepseek/deepseek-chat")]


def test_rule2_catalog_id_gives_deployments_in_fallback_order(resolver: Resolver) -> None:
    assert described(resolver.resolve("qwen-plus")) == [("alibaba", "qwen-plus-2025-07-28"), ("deepseek", "deepseek-chat")]
    assert described(resolver.resolve("fast")) == [("ark", "doubao-seed-1-6-flash-250828")]


def test_rule2_before_rule3(resolver: Resolver) -> None:
    assert described(resolver.resolve("openai/gpt-4o")) == [("alibaba", "qwen-max")]


def test_rule2_before_rule4_even_for_an_ambiguous_bare_name(resolver: Resolver) -> None:
    assert described(resolver.resolve("shared-model")) == [("openai", "gpt-4o-mini")]


def test_rule3_provider_slash_model(resolver: Resolver) -> None:
    assert described(resolver.resolve("deepseek/deepseek-reasoner")) == [("deepseek", "deepseek-reasoner")]
    # the provider need not list the model
    assert described(resolver.resolve("ark/doubao-seed-1-6-251015")) == [("ark", "doubao-seed-1-6-251015")]
    # only the part before the first slash names the provider
    assert described(resolver.resolve("alibaba/qwen/qwen3-coder")) == [("alibaba", "qwen/qwen3-coder")]


def test_rule3_needs_a_configured_provider_and_a_model() -> None:
    resolver = make_resolver(
        {"vllm": {"type": "openai", "base_url": "http://127.0.0.1:8000/v1", "models": ["meta-llama/Llama-3.1-8B-Instruct"]}},
        {},
    )
    # "meta-llama" is not a provider: the whole id is a bare name (rule 4)
    assert described(resolver.resolve("meta-llama/Llama-3.1-8B-Instruct")) == [("vllm", "meta-llama/Llama-3.1-8B-Instruct")]
    for model in ("vllm/", "anthropic/claude-sonnet-4-5", "/gpt-4o"):
        with pytest.raises(ModelNotFound):
            resolver.resolve(model)


def test_rule4_bare_name_one_provider_lists(resolver: Resolver) -> None:
    assert described(resolver.resolve("deepseek-reasoner")) == [("deepseek", "deepseek-reasoner")]
    assert described(resolver.resolve("qwen3-max")) == [("alibaba", "qwen3-max")]
    assert described(resolver.resolve("gpt-4o")) == [("openai", "gpt-4o")]


def test_ambiguous_bare_name_is_not_found_naming_the_providers() -> None:
    resolver = make_resolver(PROVIDERS, {})
    with pytest.raises(ModelNotFound) as caught:
        resolver.resolve("shared-model")
    error = caught.value
    assert "alibaba" in error.message and "openai" in error.message
    assert "alibaba/shared-model" in error.message or "provider/shared-model" in error.message
    assert (error.status, error.code, error.param) == (404, "model_not_found", "model")


def test_a_provider_listing_a_name_twice_is_still_one_provider() -> None:
    providers = {"deepseek": {**PROVIDERS["deepseek"], "models": ["deepseek-chat", "deepseek-chat"]}}
    resolver = make_resolver(providers, {})
    assert described(resolver.resolve("deepseek-chat")) == [("deepseek", "deepseek-chat")]


@pytest.mark.parametrize("model", ["gpt-5", "claude-sonnet-4-5", "Qwen-Plus", "qwen-plus ", "DeepSeek/deepseek-chat"])
def test_unknown_model_is_not_found(resolver: Resolver, model: str) -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolver.resolve(model)
    error = caught.value
    assert f"`{model}`" in error.message
    assert error.body() == {"error": {"message": error.message, "type": "invalid_request_error",
                                      "param": "model", "code": "model_not_found"}}


def test_targets_share_the_configured_upstream_objects(resolver: Resolver) -> None:
    ups = resolver.upstreams
    assert resolver.resolve("qwen-plus")[0].upstream is ups["alibaba"]
    assert resolver.resolve("deepseek/x")[0].upstream is ups["deepseek"]
    assert resolver.resolve("gpt-4o")[0].upstream is ups["openai"]


def test_next_key_cycles_and_none_without_keys() -> None:
    spec = {**PROVIDERS["deepseek"], "keys": ("sk-a", "sk-b", "sk-c")}
    up = upstream("deepseek", spec)
    assert [up.next_key() for _ in range(7)] == ["sk-a", "sk-b", "sk-c", "sk-a", "sk-b", "sk-c", "sk-a"]
    keyless = upstream("local", {"type": "openai", "base_url": "http://127.0.0.1:8000/v1"})
    assert [keyless.next_key(), keyless.next_key()] == [None, None]
