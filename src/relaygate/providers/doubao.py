"""ByteDance Doubao on Volcengine Ark (`/api/v3/chat/completions`): OpenAI wire with
`thinking: {"type": "enabled"|"disabled"|"auto"}`; Ark takes no token budget, so it is dropped."""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import OpenAIWire


def thinking_to_doubao(thinking: dict[str, Any]) -> dict[str, Any]:
    return {"thinking": {"type": thinking["type"]}}


ADAPTER = OpenAIWire("doubao", thinking=thinking_to_doubao)
