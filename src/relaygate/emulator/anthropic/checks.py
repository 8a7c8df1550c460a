"""What the Messages API rejects before answering, with its own words where they are known.

Headers: `x-api-key` (401 authentication_error) and `anthropic-version` (400). Body: the required
fields, sampling ranges, a structured output's format, the thinking rules of the extended-thinking guide ("Feature
compatibility", "Preserving thinking blocks"), alternating roles, known content blocks, tool
results that answer the previous turn's tool uses (message quoted from a recorded 400), and
thinking blocks that this emulator signed. Each check returns the error message or None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from .signing import Signer

EXTENDED_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
BLOCK_TYPES = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MIN_BUDGET = 1024


@dataclass(frozen=True)
class ApiError:
    status: int
    type: str
    message: str


def header_problem(headers: Mapping[str, str], accepted: frozenset[str]) -> ApiError | None:
    key = headers.get("x-api-key", "")
    if not key:
        return ApiError(401, "authentication_error", "x-api-key header is required")
    if accepted and key not in accepted:
        return ApiError(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        return ApiError(400, "invalid_request_error", "anthropic-version: header is required")
    return None


def body_problem(parsed: bool, body: Any, signer: Signer) -> ApiError | None:
    if not parsed or not isinstance(body, dict):
        return ApiError(400, "invalid_request_error", "There was an error parsing the body of your request: not JSON")
    for check in (*CHECKS, partial(_signatures, signer=signer), _thinking_turns):
        message = check(body)
        if message:
            return ApiError(400, "invalid_request_error", message)
    return None


def _required(body: dict[str, Any]) -> str | None:
    for name, ok in (("model", _is_str), ("max_tokens", _is_count), ("messages", _is_list)):
        if name not in body:
            return f"{name}: Field required"
        if not ok(body[name]):
            return f"{name}: Input should be a valid {'integer' if name == 'max_tokens' else name}"
    return None if body["messages"] else "messages: at least one message is required"


def _output_format(body: dict[str, Any]) -> str | None:
    """Structured outputs: a `json_schema` format with a schema whose objects are all closed
    (the structured-outputs guide's "JSON Schema limitations"; the wording here is the emulator's)."""
    config = body.get("output_config")
    if config is None:
        return None
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        return "output_config.format: Input should be an object with type 'json_schema' and a schema"
    if not _closed(fmt["schema"]):
        return "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false"
    return None


def _closed(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return True
    if (schema.get("type") == "object" or "properties" in schema) and schema.get("additionalProperties") is not False:
        return False
    inner = [*(schema.get("properties") or {}).values(), schema.get("items"), *(schema.get("anyOf") or [])]
    return all(_closed(part) for part in inner)


def _sampling(body: dict[str, Any]) -> str | None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            return f"{name}: Input should be less than or equal to 1"
    return None


def _thinking(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not _is_count(budget) or budget < MIN_BUDGET:
        return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
    if body["max_tokens"] <= budget:
        return ("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
                f"at {EXTENDED_THINKING_DOCS}#max-tokens-and-context-window-size")
    if body.get("temperature") not in (None, 1) or body.get("top_k") is not None:
        return "`temperature` may only be set to 1 and `top_k` must be unset when thinking is enabled."
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def _tools(body: dict[str, Any]) -> str | None:
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not _is_str(tool.get("name")):
            return f"tools.{i}.custom.name: Field required"
        if not isinstance(tool.get("input_schema"), dict):
            return f"tools.{i}.custom.input_schema: Field required"
    return None


def _roles(body: dict[str, Any]) -> str | None:
    previous = None
    for i, message in enumerate(body["messages"]):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            return ('messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
                    'not "system" as an input message role.')
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if role == previous:
            return (f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" '
                    "roles in a row")
        previous = role
    return None


def _contents(body: dict[str, Any]) -> str | None:
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            return f"messages.{i}.content: Input should be a valid list or a non-empty string"
        for j, block in enumerate(content):
            problem = _block_problem(block)
            if problem:
                return f"messages.{i}.content.{j}{problem}"
    return None


def _block_problem(block: Any) -> str | None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in BLOCK_TYPES:
        return f".type: Input tag '{kind}' found using 'type' does not match any of the expected tags"
    if kind == "text" and not (_is_str(block.get("text")) and block["text"]):
        return ".text: text content blocks must be non-empty"
    if kind in ("image", "document"):
        return _source_problem(kind, block.get("source"))
    return None


def _source_problem(kind: str, source: Any) -> str | None:
    source_type = source.get("type") if isinstance(source, dict) else None
    if source_type == "url" and _is_str(source.get("url")):
        return None
    if source_type == "base64" and _is_str(source.get("data")):
        media = source.get("media_type")
        if kind == "document" and media == "application/pdf" or kind == "image" and media in IMAGE_TYPES:
            return None
        return f".{kind}.source.base64.media_type: Input should be one of the supported media types"
    return f".{kind}.source: Input should be a valid base64 or url source"


def _tool_results(body: dict[str, Any]) -> str | None:
    """Every tool_result answers a tool_use of the turn before (wording of a recorded 400)."""
    messages = body["messages"]
    for i, message in enumerate(messages):
        called = _ids(messages[i - 1], "tool_use", "id") if i else []
        for j, block in enumerate(_blocks(message)):
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in called:
                return (f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message.")
    return None


def _tool_uses(body: dict[str, Any]) -> str | None:
    """Every tool_use that is not in the last turn is answered in the next one."""
    messages = body["messages"]
    for i, message in enumerate(messages[:-1]):
        answered = _ids(messages[i + 1], "tool_result", "tool_use_id")
        missing = [c for c in _ids(message, "tool_use", "id") if c not in answered]
        if missing:
            return (f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block "
                    "in the next message.")
    return None


def _signatures(body: dict[str, Any], signer: Signer) -> str | None:
    for i, message in enumerate(body["messages"]):
        for j, block in enumerate(_blocks(message)):
            thinking, signature = str(block.get("thinking")), str(block.get("signature"))
            if block.get("type") == "thinking" and not signer.signed(thinking, signature):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if block.get("type") == "redacted_thinking" and not signer.sealed(str(block.get("data"))):
                return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
    return None


def _thinking_turns(body: dict[str, Any]) -> str | None:
    """With thinking on, the assistant turn whose tool uses the last turn answers must open with thinking."""
    thinking = body.get("thinking")
    messages = body["messages"]
    if not (isinstance(thinking, dict) and thinking.get("type") == "enabled") or len(messages) < 2:
        return None
    if not _ids(messages[-1], "tool_result", "tool_use_id"):
        return None
    first = (_blocks(messages[-2]) or [{}])[0].get("type")
    if first in ("thinking", "redacted_thinking"):
        return None
    return (f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block "
            "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
            "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult "
            f"our documentation at {EXTENDED_THINKING_DOCS}")


# In order: each later check relies on the shapes the earlier ones vouched for.
CHECKS: tuple[Callable[[dict[str, Any]], str | None], ...] = (
    _required, _sampling, _output_format, _thinking, _tools, _roles, _contents, _tool_results, _tool_uses,
)


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _ids(message: dict[str, Any], kind: str, field: str) -> list[Any]:
    return [b.get(field) for b in _blocks(message) if b.get("type") == kind]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_list(value: Any) -> bool:
    return isinstance(value, list)
