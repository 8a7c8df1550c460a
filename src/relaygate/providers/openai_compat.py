"""OpenAI itself and any OpenAI-compatible server (vLLM, LM Studio, proxies)."""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import OpenAIWire

# Budgets below these many tokens map to the effort named; OpenAI documents efforts, not budgets.
EFFORT_BY_BUDGET = ((4096, "low"), (16384, "medium"))


def thinking_to_reasoning_effort(thinking: dict[str, Any]) -> dict[str, Any]:
    """`thinking: enabled` becomes `reasoning_effort`; disabled or auto leaves the model's default."""
    if thinking.get("type") != "enabled":
        return {}
    budget = thinking.get("budget_tokens")
    if budget is None:
        return {"reasoning_effort": "medium"}
    for limit, effort in EFFORT_BY_BUDGET:
        if budget < limit:
            return {"reasoning_effort": effort}
    return {"reasoning_effort": "high"}


ADAPTER = OpenAIWire("openai", thinking=thinking_to_reasoning_effort)
