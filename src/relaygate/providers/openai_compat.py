"""OpenAI itself and any OpenAI-compatible server (vLLM, LM Studio, proxies)."""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import OpenAIWire
from relaygate.providers.thinking import effort_for_budget


def thinking_to_reasoning_effort(thinking: dict[str, Any]) -> dict[str, Any]:
    """`thinking: enabled` becomes `reasoning_effort`; disabled or auto leaves the model's default."""
    if thinking.get("type") != "enabled":
        return {}
    return {"reasoning_effort": effort_for_budget(thinking.get("budget_tokens"))}


ADAPTER = OpenAIWire("openai", thinking=thinking_to_reasoning_effort)
