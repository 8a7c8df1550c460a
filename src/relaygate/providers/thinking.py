"""One way to ask for thinking: the unified `thinking` object, `reasoning_effort`, and how they
relate. Every adapter maps from here to its upstream's native form (see the README's table).

    effort     budget_tokens (effort → budget)    budget → effort
    minimal        512                            budget <  1024
    low           2048                            budget <  4096
    medium        8192                            budget < 16384
    high         24576                            otherwise
"""

from __future__ import annotations

from typing import Any

EFFORT_BUDGETS = {"minimal": 512, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
EFFORT_BY_BUDGET = ((1024, "minimal"), (4096, "low"), (16384, "medium"))
OFF_EFFORTS = frozenset({"none"})


def effort_for_budget(budget: int | None) -> str:
    if budget is None:
        return "medium"
    for limit, effort in EFFORT_BY_BUDGET:
        if budget < limit:
            return effort
    return "high"


def requested_thinking(request: dict[str, Any]) -> dict[str, Any] | None:
    """The request's wish as a unified `thinking` object, from `thinking` or else `reasoning_effort`;
    None when the client expressed none."""
    thinking = request.get("thinking")
    if thinking:
        return thinking
    effort = request.get("reasoning_effort")
    if effort is None:
        return None
    if effort in OFF_EFFORTS:
        return {"type": "disabled"}
    return {"type": "enabled", "budget_tokens": EFFORT_BUDGETS.get(effort, EFFORT_BUDGETS["medium"])}
