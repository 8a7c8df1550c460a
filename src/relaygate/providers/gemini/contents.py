"""Chat messages → Gemini `systemInstruction` and `contents`.

Gemini keeps the system prompt apart (`systemInstruction`), knows two roles, `user` and `model`,
and wants them to alternate, so adjacent turns of one role are merged into one Content
(https://ai.google.dev/api/caching#Content). Assistant tool calls become `functionCall` parts
(with the thought signature the client sent back, on the part it came from); tool results become
`functionResponse` parts of a user turn, named after the call they answer, so the results of
one round of parallel calls form one turn
(https://ai.google.dev/gemini-api/docs/function-calling#parallel_function_calling).
"""

from __future__ import annotations

import base64
from typing import Any, Callable
from urllib.parse import unquote_to_bytes

import orjson

from relaygate.errors import InvalidRequest
from relaygate.providers.gemini.mapping import signature_of

Part = dict[str, Any]
Content = dict[str, Any]
Message = dict[str, Any]
Names = dict[str, str]  # tool_call id → function name, from the assistant turns


def messages_to_contents(messages: list[Message]) -> tuple[Content | None, list[Content]]:
    names = _tool_call_names(messages)
    system: list[Part] = []
    turns: list[Content] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if role in ("system", "developer"):
            system += [{"text": text} for text in _texts(message.get("content"))]
            continue
        gemini_role, build = TURNS[role]
        _append(turns, gemini_role, build(message, f"messages[{i}]", names))
    return ({"parts": system} if system else None), turns


def _append(turns: list[Content], role: str, parts: list[Part]) -> None:
    if not parts:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["parts"].extend(parts)
    else:
        turns.append({"role": role, "parts": parts})


def _tool_call_names(messages: list[Message]) -> Names:
    names: Names = {}
    for message in messages:
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(call.get("id"), str):
                names[call["id"]] = str(function.get("name", ""))
    return names


def _texts(content: Any) -> list[str]:
    """The non-empty texts of a content (Gemini refuses empty text parts)."""
    if isinstance(content, str):
        return [content] if content else []
    parts = content if isinstance(content, list) else []
    texts = [p.get("text") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    return [text for text in texts if isinstance(text, str) and text]


def user_parts(message: Message, where: str, names: Names) -> list[Part]:
    content = message.get("content")
    if not isinstance(content, list):
        return [{"text": text} for text in _texts(content)]
    return [part for j, p in enumerate(content) if (part := _user_part(p, f"{where}.content[{j}]")) is not None]


def _user_part(part: dict[str, Any], where: str) -> Part | None:
    kind = part["type"]
    if kind == "text":
        text = part.get("text")
        return {"text": text} if isinstance(text, str) and text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return {"inlineData": data_url_to_inline(url, f"{where}.image_url.url")}
    if kind == "input_audio":
        audio = _object(part.get("input_audio"), f"{where}.input_audio")
        return {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data", "")}}
    if kind == "file":
        file = _object(part.get("file"), f"{where}.file")
        return {"inlineData": data_url_to_inline(file.get("file_data"), f"{where}.file.file_data")}
    raise InvalidRequest(f"Content parts of type '{kind}' cannot be sent to a Gemini model.", param=where)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{where}' must be an object.", param=where)
    return value


def data_url_to_inline(url: Any, where: str) -> dict[str, str]:
    """`data:<mime>[;base64],<data>` → Blob {mimeType, data (base64)}. Remote URLs are fetched
    and inlined by the gateway before this point (see upstream/fetch.py)."""
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        raise InvalidRequest("Gemini models take images as data URLs (data:image/png;base64,...).", param=where,
                             code="invalid_image_url")
    header, _, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if encoding != "base64":
        data = base64.b64encode(unquote_to_bytes(data)).decode()
    return {"mimeType": mime or "application/octet-stream", "data": data}


def assistant_parts(message: Message, where: str, names: Names) -> list[Part]:
    parts: list[Part] = [{"text": text} for text in _texts(message.get("content"))]
    signature = signature_of(message)
    if signature:  # it came on the answer's text: the last text part, or an empty one of its own
        if parts:
            parts[-1]["thoughtSignature"] = signature
        else:
            parts.append({"text": "", "thoughtSignature": signature})
    calls = message.get("tool_calls")
    calls = calls if isinstance(calls, list) else []
    return parts + [_function_call(call, f"{where}.tool_calls[{j}]") for j, call in enumerate(calls)]


def _function_call(call: Any, where: str) -> Part:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequest("Each tool call needs a function with a name.", param=where)
    part: Part = {"functionCall": {"name": function["name"], "args": _arguments(function.get("arguments"), where)}}
    signature = signature_of(call)
    if signature:
        part["thoughtSignature"] = signature
    return part


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    """OpenAI sends arguments as a JSON string; Gemini's `args` is an object."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or arguments == "":
        return {}
    try:
        value = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest("Tool call arguments must be a JSON object.", param=f"{where}.function.arguments")
    return value


def tool_parts(message: Message, where: str, names: Names) -> list[Part]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or call_id not in names:
        raise InvalidRequest(f"'{where}.tool_call_id' does not match any earlier tool call.", param=where)
    return [_function_response(names[call_id], message.get("content"))]


def function_parts(message: Message, where: str, names: Names) -> list[Part]:
    """The legacy `function` role names its function itself."""
    return [_function_response(str(message.get("name", "")), message.get("content"))]


def _function_response(name: str, content: Any) -> Part:
    """A JSON object result goes as it is; anything else under `output`, the key Gemini reads as
    the function's output (https://ai.google.dev/api/caching#FunctionResponse)."""
    text = content if isinstance(content, str) else "".join(_texts(content))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    response = value if isinstance(value, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response}}


TURNS: dict[str, tuple[str, Callable[[Message, str, Names], list[Part]]]] = {
    "user": ("user", user_parts),
    "assistant": ("model", assistant_parts),
    "tool": ("user", tool_parts),
    "function": ("user", function_parts),
}
