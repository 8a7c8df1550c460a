"""Scripted behaviour: a queue of rules that override or pace the answers to matching requests.

The first rule that matches a request and has uses left applies to it (`times: -1` = forever).
A rule, as posted to `/_emulator/script` (every key optional):

    {"match": {"model": str, "path_prefix": str, "stream": bool},
     "times": 1, "status": int, "body": any JSON, "raw": str, "headers": {str: str},
     "delay": s, "chunk_delay": s, "chunks": int, "cut_after": int, "stall_after": int,
     "keepalive": bool, "linger": s, "content": str, "every": int, "chance": float}

A status >= 400, a `body` or a `raw` replaces the answer (a status alone gets the provider's own
error body); the other keys shape a normal answer. `cut_after`/`stall_after` count SSE events;
on a non-streaming request they cut or stall before the response starts. `linger` keeps a stream's
body open that long after its last event (`[DONE]`), as an upstream slow to close does. `every: n` applies the
rule to one matching request in n (the n-th, 2n-th, ...), e.g. a deployment that stalls 10% of the time;
`chance: p` applies it to each matching request with probability p, at random.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

RULE_KEYS = frozenset(
    {"match", "times", "status", "body", "raw", "headers", "delay", "chunk_delay", "chunks", "cut_after",
     "stall_after", "keepalive", "linger", "content", "every", "chance"}
)
MATCH_KEYS = frozenset({"model", "path_prefix", "stream"})


class RuleError(ValueError):
    """A scripted rule that cannot be understood."""


@dataclass
class Rule:
    model: str | None = None
    path_prefix: str | None = None
    stream: bool | None = None
    times: int = 1
    status: int | None = None
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunks: int | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    keepalive: bool = False
    linger: float = 0.0
    content: str | None = None
    every: int = 1
    chance: float = 1.0
    seen: int = field(default=0, repr=False)

    def matches(self, path: str, model: Any, stream: bool) -> bool:
        return (
            (self.model is None or self.model == model)
            and (self.path_prefix is None or path.startswith(self.path_prefix))
            and (self.stream is None or self.stream == stream)
        )

    @property
    def overrides(self) -> bool:
        """True when the rule replaces the answer (an error status, or a body of its own)."""
        return (self.status or 200) >= 400 or self.body is not None or self.raw is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("seen")
        match = {key: data.pop(key) for key in ("model", "path_prefix", "stream")}
        return {"match": {k: v for k, v in match.items() if v is not None}, **data}


def parse_rule(data: Any) -> Rule:
    """A rule from its JSON form; raises RuleError on unknown keys or wrong types."""
    if not isinstance(data, dict):
        raise RuleError("each rule must be a JSON object")
    _reject_unknown(data, RULE_KEYS, "rule")
    match = data.get("match") or {}
    if not isinstance(match, dict):
        raise RuleError("'match' must be an object")
    _reject_unknown(match, MATCH_KEYS, "match")
    fields = {k: v for k, v in data.items() if k != "match"}
    try:
        rule = Rule(**match, **fields)
    except TypeError as exc:
        raise RuleError(str(exc)) from exc
    _check_types(rule)
    return rule


def _reject_unknown(data: dict[str, Any], known: frozenset[str], what: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise RuleError(f"unknown {what} key(s): {', '.join(unknown)}")


def _check_types(rule: Rule) -> None:
    numbers = {"delay": rule.delay, "chunk_delay": rule.chunk_delay, "linger": rule.linger}
    counts = {"times": rule.times, "status": rule.status, "chunks": rule.chunks, "cut_after": rule.cut_after,
              "stall_after": rule.stall_after, "every": rule.every}
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 for v in numbers.values()):
        raise RuleError("'delay', 'chunk_delay' and 'linger' must be non-negative numbers")
    if any(v is not None and (not isinstance(v, int) or isinstance(v, bool)) for v in counts.values()):
        raise RuleError("'times', 'status', 'chunks', 'cut_after', 'stall_after' and 'every' must be integers")
    if rule.every < 1:
        raise RuleError("'every' must be at least 1")
    if isinstance(rule.chance, bool) or not isinstance(rule.chance, (int, float)) or not 0 < rule.chance <= 1:
        raise RuleError("'chance' must be a number in (0, 1]")
    if not isinstance(rule.headers, dict) or (rule.raw is not None and not isinstance(rule.raw, str)):
        raise RuleError("'headers' must be an object and 'raw' a string")
    if rule.chunks is not None and rule.chunks < 1:
        raise RuleError("'chunks' must be at least 1")
    if rule.times == 0 or rule.times < -1:
        raise RuleError("'times' must be positive, or -1 for forever")


class Script:
    """The queue of rules, in the order they were posted."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []

    def __bool__(self) -> bool:
        return bool(self._rules)

    def extend(self, rules: list[Rule]) -> None:
        self._rules.extend(rules)

    def clear(self) -> None:
        self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [rule.to_json() for rule in self._rules]

    def take(self, path: str, model: Any, stream: bool) -> Rule | None:
        """The first matching rule with uses left, counting this use."""
        for rule in self._rules:
            if rule.matches(path, model, stream):
                rule.seen += 1
                if rule.seen % rule.every or (rule.chance < 1 and random.random() >= rule.chance):
                    continue
                if rule.times > 0:
                    rule.times -= 1
                if rule.times == 0:
                    self._rules.remove(rule)
                return rule
        return None
