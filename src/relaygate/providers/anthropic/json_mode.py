"""JSON mode on Anthropic: `response_format` becomes a tool whose input is the answer.

The Messages API has no `response_format`; its tool-use guide recommends a tool for JSON output
(https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use, "JSON mode"):
the tool's `input_schema` is the wanted schema and the model's tool input is the JSON answer. The
gateway adds such a tool under a reserved name and turns its `tool_use` back into the message's
`content` (whole or streamed), so the client sees what OpenAI's JSON mode gives it.

The tool is forced with `tool_choice: {"type": "tool"}` when it is the only tool. Extended thinking
rejects forced tool use ("Feature compatibility" in the extended-thinking guide), and a client's
own tools must stay callable, so in those cases the tool is offered with the client's tool choice
and a system instruction asks the model to answer through it.
"""

from __future__ import annotations

from typing import Any

from relaygate.errors import InvalidRequest

JSON_TOOL = "relaygate_json_response"
INSTRUCTION = f"When you give your final answer, give it by calling the `{JSON_TOOL}` tool with the answer as input."
ANY_OBJECT: dict[str, Any] = {"type": "object"}


def json_schema_of(request: dict[str, Any]) -> dict[str, Any] | None:
    """The schema the answer must follow, or None when the client did not ask for JSON."""
    fmt = request.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        return ANY_OBJECT
    if kind != "json_schema":
        return None
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema", ANY_OBJECT), dict):
        raise InvalidRequest("'response_format.json_schema.schema' must be an object.", param="response_format")
    return spec.get("schema") or ANY_OBJECT


def wants_json(request: dict[str, Any]) -> bool:
    fmt = request.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def json_tool(schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": JSON_TOOL, "description": "Give the final answer as this tool's input.", "input_schema": schema}
