"""The one thinking control → Anthropic's `thinking: {"type": "enabled", "budget_tokens": N}`.

The client's wish is read by the shared `providers/thinking.requested_thinking` (the unified
`thinking` object, else `reasoning_effort` through the shared effort → budget table; a `-thinking`
model alias arrives as `thinking: {"type": "enabled"}`). Anthropic wants the budget at least 1024
and below `max_tokens` ("Extended thinking" guide, "How to use extended thinking" and "Max tokens
and context window size"), so a smaller budget is raised to 1024, and `max_tokens` is raised to
the budget plus the client's own `max_tokens`, keeping the client's allowance for the answer.

    requested thinking                 Anthropic
    enabled, budget_tokens N           budget max(N, 1024)
    enabled, no budget                 budget DEFAULT_BUDGET (the shared table's "medium")
    disabled, auto, none               no thinking (Anthropic's default; it has no "auto")
"""

from __future__ import annotations

from typing import Any

from relaygate.providers.thinking import EFFORT_BUDGETS, requested_thinking

MIN_BUDGET = 1024
DEFAULT_BUDGET = EFFORT_BUDGETS["medium"]
# Thinking is incompatible with temperature and top_k changes, and allows only top_p >= 0.95
# ("Feature compatibility"); the client asked for thinking, so the sampling knobs give way.
SAMPLING_WITHOUT_THINKING = ("temperature", "top_p", "top_k")


def thinking_budget(request: dict[str, Any]) -> int | None:
    """The thinking budget the request asks for, or None for no thinking."""
    thinking = requested_thinking(request)
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    return max(budget if isinstance(budget, int) else DEFAULT_BUDGET, MIN_BUDGET)


def with_thinking(body: dict[str, Any], budget: int) -> dict[str, Any]:
    """The Messages request with thinking on, its `max_tokens` above the budget, sampling knobs off."""
    out = {k: v for k, v in body.items() if k not in SAMPLING_WITHOUT_THINKING}
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if out["max_tokens"] <= budget:
        out["max_tokens"] = budget + out["max_tokens"]
    return out
