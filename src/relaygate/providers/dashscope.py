"""Alibaba Model Studio (DashScope) compatible mode: thinking is `enable_thinking` + `thinking_budget`.

See the Model Studio "OpenAI compatible - chat" reference (seed 002): Qwen3 and QwQ models take
`enable_thinking` (boolean) and `thinking_budget` (maximum reasoning tokens).
"""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import OpenAIWire


def thinking_to_dashscope(thinking: dict[str, Any]) -> dict[str, Any]:
    kind = thinking.get("type")
    if kind == "disabled":
        return {"enable_thinking": False}
    if kind != "enabled":
        return {}
    params: dict[str, Any] = {"enable_thinking": True}
    if thinking.get("budget_tokens"):
        params["thinking_budget"] = thinking["budget_tokens"]
    return params


# DashScope has no `reasoning_effort`; an effort becomes a thinking budget (providers/thinking.py).
ADAPTER = OpenAIWire("dashscope", thinking=thinking_to_dashscope, native_effort=False)
