"""Which request parameters each provider type is known not to support, for
`provider.require_parameters` (only deployments that support every parameter sent are used).
A parameter missing from a type's set is taken to be supported; the sets list what the providers'
own references leave out."""

from __future__ import annotations

from typing import Any

UNSUPPORTED: dict[str, frozenset[str]] = {
    "openai": frozenset(),
    "emulator": frozenset(),
    "deepseek": frozenset({"n", "seed", "logit_bias", "modalities", "audio", "prediction", "service_tier"}),
    "dashscope": frozenset({"logit_bias", "prediction", "service_tier", "reasoning_effort"}),
    "doubao": frozenset({"n", "seed", "logit_bias", "modalities", "audio", "prediction"}),
    "anthropic": frozenset({
        "n", "seed", "logprobs", "top_logprobs", "logit_bias", "presence_penalty", "frequency_penalty",
        "modalities", "audio", "prediction", "service_tier",
    }),
    "gemini": frozenset({"logprobs", "top_logprobs", "logit_bias", "modalities", "audio", "prediction", "service_tier"}),
}


def supports(provider_type: str, request: dict[str, Any]) -> bool:
    unsupported = UNSUPPORTED.get(provider_type, frozenset())
    return not any(name in request for name in unsupported)
