"""OpenAI chat messages → Anthropic `system` and `messages` (content blocks).

- `system` and `developer` messages, wherever they stand, become `system` text blocks (the Messages
  API has no system role in `messages`).
- `user` parts: text → text block; `image_url` with a data URL → base64 image source, with an
  http(s) URL → url image source; `file` with a PDF data URL → base64 document. Other parts (audio,
  file ids) have no Anthropic form and are a 400.
- `assistant`: its `thinking_blocks` (as relaygate returned them) come first, unchanged, since
  Anthropic needs the signed thinking of the turn that called a tool back before that call
  ("Preserving thinking blocks" in the extended-thinking guide); then text; then one `tool_use`
  per tool call, the arguments parsed back into an object. `reasoning_content` alone cannot be
  sent back (it carries no signature) and is dropped.
- `tool` messages become `tool_result` blocks; consecutive ones share one user turn, tool results
  first, as Anthropic requires ("Handling tool use and tool result content blocks").
- Turns of the same role that end up next to each other are merged, so roles alternate.
See https://docs.anthropic.com/en/api/messages (`messages`, `system`).
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from relaygate.errors import InvalidRequest

Block = dict[str, Any]
Turn = dict[str, Any]
PASSED_ON_PARTS = ("cache_control",)  # Anthropic's own part options, kept when a client sends them
PLAIN_KEYS = frozenset({"role", "content", "name"})  # a message of text alone (the name is not sent on)


def chat_messages_to_anthropic(messages: list[dict[str, Any]]) -> tuple[list[Block], list[Turn]]:
    """(system blocks, alternating turns) for the chat `messages`."""
    system: list[Block] = []
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        role, content = message["role"], message.get("content")
        if content.__class__ is str and message.keys() <= PLAIN_KEYS:  # the usual message: text alone
            if role == "user" or role == "assistant":
                if content or role == "user":
                    _append(turns, role, [{"type": "text", "text": content}])
                continue
            if role == "system" or role == "developer":
                system.append({"type": "text", "text": content})
                continue
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system += text_blocks(message.get("content"), where)
            continue
        convert = TURNS.get(role)
        if convert is None:
            where = f"{where}.role"
            raise InvalidRequest(f"'{where}' {role!r} is not supported for Anthropic models.", param=where)
        anthropic_role, blocks = convert(message, where)
        if blocks:
            _append(turns, anthropic_role, blocks)
    return system, [_compact(turn) for turn in turns]


def user_turn(message: dict[str, Any], where: str) -> tuple[str, list[Block]]:
    content = message.get("content")
    if isinstance(content, str):
        return "user", [{"type": "text", "text": content}]
    return "user", [part_to_block(part, f"{where}.content[{j}]") for j, part in enumerate(content or [])]


def assistant_turn(message: dict[str, Any], where: str) -> tuple[str, list[Block]]:
    blocks = thinking_blocks(message.get("thinking_blocks"), f"{where}.thinking_blocks")
    blocks += [b for b in text_blocks(message.get("content"), where) if b["text"]]
    calls = message.get("tool_calls") or []
    blocks += [tool_use_block(call, f"{where}.tool_calls[{j}]") for j, call in enumerate(calls)]
    return "assistant", blocks


def tool_turn(message: dict[str, Any], where: str) -> tuple[str, list[Block]]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"'{where}.tool_call_id' is required.", param=f"{where}.tool_call_id")
    content = message.get("content")
    result = content if isinstance(content, str) else [
        part_to_block(part, f"{where}.content[{j}]") for j, part in enumerate(content or [])
    ]
    return "user", [{"type": "tool_result", "tool_use_id": call_id, "content": result}]


TURNS: dict[str, Callable[[dict[str, Any], str], tuple[str, list[Block]]]] = {
    "user": user_turn,
    "assistant": assistant_turn,
    "tool": tool_turn,
}


def text_blocks(content: Any, where: str) -> list[Block]:
    """Text blocks of a system or assistant message (a string, or text and refusal parts)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for j, part in enumerate(content):
        if part.get("type") not in ("text", "refusal"):
            raise InvalidRequest(f"'{where}.content[{j}]' must be a text part here.", param=f"{where}.content[{j}]")
        blocks.append(_text_block(part, part.get("text", part.get("refusal")), f"{where}.content[{j}]"))
    return blocks


def part_to_block(part: dict[str, Any], where: str) -> Block:
    kind = part["type"]
    convert = PARTS.get(kind)
    if convert is None:
        raise InvalidRequest(f"'{where}': content of type {kind!r} is not supported for Anthropic models.", param=where)
    return convert(part, where)


def _text_part(part: dict[str, Any], where: str) -> Block:
    return _text_block(part, part.get("text"), where)


def _text_block(part: dict[str, Any], text: Any, where: str) -> Block:
    if not isinstance(text, str):
        raise InvalidRequest(f"'{where}.text' must be a string.", param=where)
    return _with_options({"type": "text", "text": text}, part)


def _image_part(part: dict[str, Any], where: str) -> Block:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequest(f"'{where}.image_url.url' must be a string.", param=where)
    if url.startswith(("http://", "https://")):
        return _with_options({"type": "image", "source": {"type": "url", "url": url}}, part)
    return _with_options({"type": "image", "source": base64_source(url, where)}, part)


def _file_part(part: dict[str, Any], where: str) -> Block:
    file = part.get("file") if isinstance(part.get("file"), dict) else {}
    data = file.get("file_data")
    if not isinstance(data, str):
        raise InvalidRequest(f"'{where}': only files given inline as a data URL can go to Anthropic.", param=where)
    return _with_options({"type": "document", "source": base64_source(data, where)}, part)


PARTS: dict[str, Callable[[dict[str, Any], str], Block]] = {
    "text": _text_part,
    "image_url": _image_part,
    "file": _file_part,
}


def base64_source(url: str, where: str) -> dict[str, str]:
    """`data:<media type>;base64,<data>` → Anthropic's base64 source."""
    header, comma, data = url.partition(",")
    media_type, _, encoding = header.removeprefix("data:").partition(";")
    if not (url.startswith("data:") and comma and encoding == "base64" and media_type):
        raise InvalidRequest(f"'{where}' must be an http(s) URL or a base64 data URL.", param=where)
    return {"type": "base64", "media_type": media_type, "data": data}


def thinking_blocks(blocks: Any, where: str) -> list[Block]:
    """The thinking blocks a client sends back as it got them: signed thinking or redacted data."""
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        raise InvalidRequest(f"'{where}' must be an array.", param=where)
    return [_thinking_block(block, f"{where}[{j}]") for j, block in enumerate(blocks)]


def _thinking_block(block: Any, where: str) -> Block:
    kind = block.get("type") if isinstance(block, dict) else None
    fields = {"thinking": ("thinking", "signature"), "redacted_thinking": ("data",)}.get(kind or "")
    if fields is None or not all(isinstance(block.get(f), str) for f in fields):
        raise InvalidRequest(
            f"'{where}' must be {{type: thinking, thinking, signature}} or {{type: redacted_thinking, data}}.",
            param=where,
        )
    return {"type": kind, **{f: block[f] for f in fields}}


def tool_use_block(call: Any, where: str) -> Block:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not call.get("id"):
        raise InvalidRequest(f"'{where}' must have an id and a function with a name.", param=where)
    return {"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments(function, where)}


def arguments(function: dict[str, Any], where: str) -> dict[str, Any]:
    raw = function.get("arguments") or "{}"
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        where = f"{where}.function.arguments"
        raise InvalidRequest(f"'{where}' must be a JSON object.", param=where)
    return value


def _with_options(block: Block, part: dict[str, Any]) -> Block:
    for name in PASSED_ON_PARTS:
        if name in part:
            block[name] = part[name]
    return block


def _append(turns: list[Turn], role: str, blocks: list[Block]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] += blocks
    else:
        turns.append({"role": role, "content": blocks})


def _compact(turn: Turn) -> Turn:
    """Tool results first in a user turn; a lone plain text block as a string, as SDKs send it."""
    blocks = turn["content"]
    if turn["role"] == "user" and len(blocks) > 1:
        blocks.sort(key=_not_tool_result)
    if len(blocks) == 1 and blocks[0].keys() == {"type", "text"}:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return turn


def _not_tool_result(block: Block) -> bool:
    return block["type"] != "tool_result"
