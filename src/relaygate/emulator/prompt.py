"""Reads what the emulator answers from a chat request's messages: texts, part types, tool results."""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


def message_text(message: Message) -> str:
    """The text of a message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_part_text(part) for part in content if _part_text(part))
    return ""


def _part_text(part: Any) -> str:
    if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
        return part["text"]
    return ""


def part_types(message: Message) -> list[str]:
    """Types of the non-text content parts of a message, each named once, in order of appearance."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    seen: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(kind, str) and kind != "text" and kind not in seen:
            seen.append(kind)
    return seen


def last_with_role(messages: list[Message], role: str) -> Message | None:
    """The last message with the given role, or None."""
    for message in reversed(messages):
        if message.get("role") == role:
            return message
    return None


def trailing_tool_results(messages: list[Message]) -> list[str]:
    """Contents of the `tool` messages that end the conversation, in order."""
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(message_text(message))
    return results[::-1]


def prompt_tokens(messages: list[Message]) -> int:
    """A deterministic stand-in for the prompt's token count: words, plus one per non-text part."""
    total = 0
    for message in messages:
        total += len(message_text(message).split()) + len(part_types(message))
    return max(total, 1)
