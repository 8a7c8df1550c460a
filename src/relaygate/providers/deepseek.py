"""DeepSeek: OpenAI wire; thinking is `{"thinking": {"type": "enabled"|"disabled"}}` with no budget.

See https://api-docs.deepseek.com/guides/thinking_mode (answers carry `reasoning_content`).
"""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import OpenAIWire


def thinking_to_deepseek(thinking: dict[str, Any]) -> dict[str, Any]:
    kind = thinking.get("type")
    return {"thinking": {"type": kind}} if kind in ("enabled", "disabled") else {}


ADAPTER = OpenAIWire("deepseek", thinking=thinking_to_deepseek)
