"""The deterministic answer to a valid Messages request, as content blocks.

Like the chat flavours: tools given and the last user turn is a question → `tool_use` blocks (all
tools when there are several and parallel use is allowed, the named one when `tool_choice` names
it); the last user turn carries tool results → "Tool said: …"; otherwise "Echo: <last user text>"
with `[saw: image, document]` for non-text blocks; a structured output (`output_config.format`)
is the JSON its schema describes, as the text. With thinking enabled a signed thinking block
comes first, and a redacted one too when the user text holds Anthropic's documented test string.
`max_tokens` counts thinking and text words; `stop_sequences` cut the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..answers import pad_words, split_chars, split_pieces
from ..fill import example_object
from .signing import Signer

# "Extended thinking" guide, "Thinking redaction": this string in a prompt makes the API redact.
REDACTED_TRIGGER = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"
ECHO_CHARS = 40

Message = dict[str, Any]


@dataclass(frozen=True)
class Block:
    type: str  # thinking, redacted_thinking, text, tool_use
    text: str = ""  # the text, the thinking, or a tool's input as JSON
    pieces: tuple[str, ...] = ()
    signature: str = ""  # a thinking signature, or redacted_thinking data
    name: str = ""
    index: int = 0  # a tool call's number, for its id


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


def compose(body: dict[str, Any], chunks: int, content: str | None, signer: Signer) -> Reply:
    """The whole answer to a validated request; `content` is a scripted reply text."""
    user = last_user(body["messages"])
    blocks = thinking_blocks(user, chunks, signer) if thinking_enabled(body) else []
    calls = [] if content is not None else tool_calls(body, user, chunks)
    stop_reason, stop_sequence = "tool_use", None
    if not calls:
        used = sum(words(b.text) for b in blocks)
        schema = json_format(body)
        text, stop_reason, stop_sequence = limited(reply_text(user, content, chunks, schema), body, used)
        pieces = (split_chars(text, chunks) if schema is not None else split_pieces(text, chunks)) if text else ()
        blocks.append(Block("text", text, pieces))
    blocks += calls
    output = sum(words(b.text) for b in blocks if b.type != "tool_use") + sum(len(c.pieces) + 1 for c in calls)
    return Reply(tuple(blocks), stop_reason, stop_sequence, prompt_tokens(body), output)


def thinking_enabled(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def thinking_blocks(user: Message, chunks: int, signer: Signer) -> list[Block]:
    thinking = pad_words(" ".join(["Thinking about:", *gist(user).split()]), chunks)
    blocks = [Block("thinking", thinking, split_pieces(thinking, chunks), signer.sign(thinking))]
    if REDACTED_TRIGGER in text_of(user):
        blocks.append(Block("redacted_thinking", signature=signer.seal("redacted: " + thinking)))
    return blocks


def tool_calls(body: dict[str, Any], user: Message, chunks: int) -> list[Block]:
    chosen = tools_to_call(body, user)
    return [_tool_call(i, tool, user, chunks) for i, tool in enumerate(chosen)]


def tools_to_call(body: dict[str, Any], user: Message) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none" or tool_results(user):
        return []
    if choice.get("type") == "tool":
        return [t for t in tools if t.get("name") == choice.get("name")][:1]
    if len(tools) >= 2 and not choice.get("disable_parallel_tool_use"):
        return tools
    return tools[:1]


def _tool_call(index: int, tool: dict[str, Any], user: Message, chunks: int) -> Block:
    schema = tool.get("input_schema")
    value = example_object(schema) if _declares_properties(schema) else {"echo": gist(user), "ok": True}
    arguments = orjson.dumps(value).decode()
    return Block("tool_use", arguments, split_chars(arguments, chunks), name=str(tool.get("name", "")), index=index)


def _declares_properties(schema: Any) -> bool:
    """A schema without `properties` is any object (JSON mode's); it gets a small sample one."""
    return isinstance(schema, dict) and "properties" in schema


def json_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a structured output (`output_config.format`), when the request asks for one."""
    fmt = (body.get("output_config") or {}).get("format")
    return fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None


def reply_text(user: Message, content: str | None, chunks: int, schema: dict[str, Any] | None = None) -> str:
    if content is not None:
        return content
    if schema is not None:  # a structured output: the JSON the schema describes, as the text
        value = example_object(schema) if _declares_properties(schema) else {"echo": gist(user), "ok": True}
        return orjson.dumps(value).decode()
    results = tool_results(user)
    if results:
        return pad_words("Tool said: " + " | ".join(results), chunks)
    seen = [kind for kind in dict.fromkeys(b.get("type") for b in blocks_of(user)) if kind != "text"]
    words_ = ["Echo:", *gist(user).split()] + ([f"[saw: {', '.join(seen)}]"] if seen else [])
    return pad_words(" ".join(words_), chunks)


def limited(text: str, body: dict[str, Any], used: int) -> tuple[str, str, str | None]:
    """(text, stop_reason, stop_sequence) after `stop_sequences` and what `max_tokens` leaves."""
    for sequence in body.get("stop_sequences") or []:
        if sequence and sequence in text:
            return text[: text.index(sequence)], "stop_sequence", sequence
    room = body["max_tokens"] - used
    parts = text.split(" ")
    if len(parts) <= room:
        return text, "end_turn", None
    return " ".join(parts[: max(room, 0)]), "max_tokens", None


def last_user(messages: list[Message]) -> Message:
    return next((m for m in reversed(messages) if m.get("role") == "user"), {})


def blocks_of(message: Message) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def text_of(message: Message) -> str:
    return " ".join(b["text"] for b in blocks_of(message) if b.get("type") == "text" and isinstance(b.get("text"), str))


def gist(message: Message) -> str:
    return " ".join(text_of(message)[:ECHO_CHARS].split())


def tool_results(message: Message) -> list[str]:
    return [_result_text(b.get("content")) for b in blocks_of(message) if b.get("type") == "tool_result"]


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return text_of({"content": content}) if isinstance(content, list) else ""


def prompt_tokens(body: dict[str, Any]) -> int:
    """A stand-in for the prompt's token count: words, plus one per non-text block."""
    system = body.get("system")
    total = words(system) if isinstance(system, str) else words(text_of({"content": system}))
    for message in body["messages"]:
        blocks = blocks_of(message)
        total += words(text_of(message)) + sum(1 for b in blocks if b.get("type") != "text")
    return max(total, 1)


def words(text: str) -> int:
    return len(text.split())
