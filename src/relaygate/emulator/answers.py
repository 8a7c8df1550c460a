"""Composes the deterministic answer to a chat request: text, reasoning, tool calls, JSON, usage.

Provider-neutral: the flavours decide how an `Answer` is worded on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .fill import example_for, example_object
from .prompt import last_with_role, message_text, part_types, prompt_tokens, trailing_tool_results

FILLER = (
    "this is a deterministic reply from the relaygate upstream emulator "
    "sent one piece per chunk so that gateways can be tested"
).split()
ECHO_CHARS = 40
MAX_CHOICES = 16


@dataclass(frozen=True)
class ToolCall:
    index: int
    name: str
    arguments: str
    fragments: tuple[str, ...]


@dataclass(frozen=True)
class Choice:
    index: int
    content: str | None
    pieces: tuple[str, ...]
    reasoning: str | None
    reasoning_pieces: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Answer:
    choices: tuple[Choice, ...]
    usage: Usage


@dataclass(frozen=True)
class Options:
    """How to answer, beyond the body: chunk count, reasoning on or off, a scripted reply."""

    chunks: int = 20
    thinks: bool = False
    content: str | None = None


def compose(body: dict[str, Any], options: Options) -> Answer:
    """The whole answer to a validated chat request body."""
    count = _choice_count(body)
    choices = tuple(_choice(body, index, options) for index in range(count))
    completion = sum(_completion_tokens(choice) for choice in choices)
    reasoning = sum(_tokens(c.reasoning, c.reasoning_pieces) for c in choices)
    usage = Usage(prompt_tokens(body["messages"]), completion, reasoning)
    return Answer(choices, usage)


def _choice_count(body: dict[str, Any]) -> int:
    n = body.get("n")
    return min(n, MAX_CHOICES) if isinstance(n, int) and n > 1 else 1


def _choice(body: dict[str, Any], index: int, options: Options) -> Choice:
    reasoning = _reasoning_text(body, options.chunks) if options.thinks else None
    reasoning_pieces = split_pieces(reasoning, options.chunks) if reasoning else ()
    calls = () if options.content is not None else _tool_calls(body, options.chunks)
    if calls:
        return Choice(index, None, (), reasoning, reasoning_pieces, calls, "tool_calls")
    text, finish = _limit(_reply_text(body, index, options), _max_tokens(body))
    chunks = options.chunks if finish == "stop" else min(options.chunks, _max_tokens(body) or 1)
    return Choice(index, text, split_pieces(text, chunks), reasoning, reasoning_pieces, (), finish)


def _reply_text(body: dict[str, Any], index: int, options: Options) -> str:
    if options.content is not None:
        return options.content
    messages = body["messages"]
    if messages[-1].get("role") == "tool":
        return pad_words("Tool said: " + " | ".join(trailing_tool_results(messages)), options.chunks)
    as_json = _json_reply(body)
    if as_json is not None:
        return as_json
    return pad_words(_echo(messages, "Echo:" if index == 0 else f"Echo[{index}]:"), options.chunks)


def _echo(messages: list[dict[str, Any]], label: str) -> str:
    user = last_with_role(messages, "user") or {}
    words = [label, *_user_gist(user).split()]
    seen = part_types(user)
    if seen:
        words.append(f"[saw: {', '.join(seen)}]")
    return " ".join(words)


def _user_gist(user: dict[str, Any]) -> str:
    return " ".join(message_text(user)[:ECHO_CHARS].split())


def _reasoning_text(body: dict[str, Any], chunks: int) -> str:
    user = last_with_role(body["messages"], "user") or {}
    return pad_words(" ".join(["Thinking about:", *_user_gist(user).split()]), chunks)


def _json_reply(body: dict[str, Any]) -> str | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        return orjson.dumps(example_for(spec.get("schema", {}))).decode()
    if fmt.get("type") == "json_object":
        user = last_with_role(body["messages"], "user") or {}
        return orjson.dumps({"echo": _user_gist(user), "ok": True}).decode()
    return None


def _tool_calls(body: dict[str, Any], chunks: int) -> tuple[ToolCall, ...]:
    chosen = tools_to_call(body)
    return tuple(_tool_call(i, tool["function"], chunks) for i, tool in enumerate(chosen))


def _tool_call(index: int, function: dict[str, Any], chunks: int) -> ToolCall:
    arguments = orjson.dumps(example_object(function.get("parameters"))).decode()
    return ToolCall(index, str(function.get("name", "")), arguments, split_chars(arguments, chunks))


def tools_to_call(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool definitions the answer calls; empty when the answer is text."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none" or body["messages"][-1].get("role") != "user":
        return []
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return [t for t in tools if t["function"].get("name") == name][:1]
    if len(tools) >= 2 and body.get("parallel_tool_calls") is not False:
        return tools
    return tools[:1]


def _max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _limit(text: str, limit: int | None) -> tuple[str, str]:
    words = text.split(" ")
    if limit is None or len(words) <= limit:
        return text, "stop"
    return " ".join(words[:limit]), "length"


def _completion_tokens(choice: Choice) -> int:
    spoken = _tokens(choice.content, choice.pieces)
    called = sum(len(call.fragments) + 1 for call in choice.tool_calls)
    return spoken + called + _tokens(choice.reasoning, choice.reasoning_pieces)


def _tokens(text: str | None, pieces: tuple[str, ...]) -> int:
    return max(len(text.split()), len(pieces)) if text else 0


def pad_words(text: str, count: int) -> str:
    """`text` with filler words appended until it has at least `count` words."""
    words = text.split(" ")
    missing = max(count - len(words), 0)
    return " ".join(words + [FILLER[i % len(FILLER)] for i in range(missing)])


def split_pieces(text: str, count: int) -> tuple[str, ...]:
    """`text` cut into `count` pieces on word boundaries (on characters when words run short)."""
    words = text.split(" ")
    if len(words) < count:
        return split_chars(text, count)
    sizes = [len(words) // count + (1 if i < len(words) % count else 0) for i in range(count)]
    pieces, start = [], 0
    for size in sizes:
        pieces.append((" " if start else "") + " ".join(words[start : start + size]))
        start += size
    return tuple(pieces)


def split_chars(text: str, count: int) -> tuple[str, ...]:
    """`text` cut into `count` nearly equal runs of characters (fewer when it is shorter)."""
    count = min(count, len(text))
    if count <= 0:
        return ()
    bounds = [len(text) * i // count for i in range(count + 1)]
    return tuple(text[bounds[i] : bounds[i + 1]] for i in range(count))
