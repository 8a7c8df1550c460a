"""Reads a valid `generateContent` request as the chat-shaped body `answers.compose` understands,
so the Gemini flavour answers exactly what the other flavours would: the echo of the last user
text, function calls when tools are declared (all of them, in parallel, when there are several),
"Tool said: ..." after function responses, JSON for JSON mode, words up to `maxOutputTokens`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

Body = dict[str, Any]


THINKING_LEVELS = frozenset({"minimal", "low", "medium", "high", "thinking_level_unspecified"})


@dataclass(frozen=True)
class Thinking:
    on: bool  # a thinkingConfig with a budget other than 0 or a level above minimal: signatures are issued and checked
    thoughts: bool  # includeThoughts: thought summaries come back as `thought: true` parts


def thinking_of(body: Body) -> Thinking:
    """Without a thinkingConfig the emulator does not think (the real models would, by default).
    The "minimal" level is taken as none ("matches no thinking for most queries", Google says)."""
    config = (body.get("generationConfig") or {}).get("thinkingConfig")
    if not isinstance(config, dict):
        return Thinking(False, False)
    level = config.get("thinkingLevel")
    on = config.get("thinkingBudget", -1) != 0 and not (isinstance(level, str) and level.lower() == "minimal")
    return Thinking(on, on and config.get("includeThoughts") is True)


def as_chat_body(body: Body) -> Body:
    config = body.get("generationConfig") or {}
    chat: Body = {"messages": _messages(body.get("contents") or [])}
    declarations = [d for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()]
    if declarations:
        chat["tools"] = [{"type": "function", "function": d} for d in declarations]
        chat["tool_choice"] = _tool_choice((body.get("toolConfig") or {}).get("functionCallingConfig") or {})
    fmt = _response_format(config)
    if fmt is not None:
        chat["response_format"] = fmt
    if isinstance(config.get("maxOutputTokens"), int):
        chat["max_tokens"] = config["maxOutputTokens"]
    if isinstance(config.get("candidateCount"), int):
        chat["n"] = config["candidateCount"]
    return chat


def _messages(contents: list[Body]) -> list[Body]:
    messages: list[Body] = []
    for content in contents:
        parts = content.get("parts") or []
        if content.get("role") == "model":
            messages.append({"role": "assistant", "content": _texts(parts)})
            continue
        messages += [{"role": "tool", "content": orjson.dumps(p["functionResponse"].get("response")).decode()}
                     for p in parts if "functionResponse" in p]
        if any("text" in p or "inlineData" in p for p in parts):
            messages.append({"role": "user", "content": [_chat_part(p) for p in parts if "functionResponse" not in p]})
    return messages


def _texts(parts: list[Body]) -> str:
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))


def _chat_part(part: Body) -> Body:
    """A text stays text; inline data is named by its MIME type, so the echo says what arrived."""
    if "inlineData" in part:
        return {"type": f"inline_data:{part['inlineData'].get('mimeType')}"}
    return {"type": "text", "text": part.get("text", "")}


def _tool_choice(config: Body) -> Any:
    mode = config.get("mode", "AUTO")
    names = config.get("allowedFunctionNames") or []
    if mode == "NONE":
        return "none"
    if mode == "ANY" and len(names) == 1:
        return {"type": "function", "function": {"name": names[0]}}
    return "required" if mode == "ANY" else "auto"


def _response_format(config: Body) -> Body | None:
    if config.get("responseMimeType") != "application/json":
        return None
    schema = config.get("responseSchema")
    if isinstance(schema, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    return {"type": "json_object"}
