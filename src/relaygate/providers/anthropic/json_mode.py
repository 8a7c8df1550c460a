"""JSON mode on Anthropic: `response_format` as structured outputs, or as a tool whose input is the answer.

Models with structured outputs (Claude Opus, Sonnet and Haiku 4.5 and later: "Structured outputs",
https://platform.claude.com/docs/en/build-with-claude/structured-outputs) take a `json_schema`
format natively, as `output_config.format`, and answer with the JSON as text (constrained decoding:
the answer follows the schema). They take only part of JSON Schema: every object must say
`additionalProperties: false`, no recursion, no numeric or length constraints. A schema within
what `fits_structured_outputs` accepts goes that way; any other schema, `json_object`, and older
models take the tool below.

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

import re
from typing import Any

from relaygate.errors import InvalidRequest

JSON_TOOL = "relaygate_json_response"
INSTRUCTION = f"When you give your final answer, give it by calling the `{JSON_TOOL}` tool with the answer as input."
ANY_OBJECT: dict[str, Any] = {"type": "object"}
STRUCTURED_FROM = (4, 5)  # the first Claude version with structured outputs
_CLAUDE = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?:-\d{8})?$")
# What a schema may use to go as a structured output (the guide's "JSON Schema limitations"):
SCHEMA_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "description",
    "title", "default", "format",
})
STRING_FORMATS = frozenset({
    "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid",
})


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


def has_structured_outputs(model: str) -> bool:
    """By the model's name: `claude-sonnet-4-5`, `claude-opus-4-5-20251101`, `claude-haiku-4-5`, and
    later versions; `claude-sonnet-4-20250514`, `claude-opus-4-1` and older are not."""
    match = _CLAUDE.search(model)
    return match is not None and (int(match.group(1)), int(match.group(2) or 0)) >= STRUCTURED_FROM


def fits_structured_outputs(schema: Any) -> bool:
    """Whether a schema stays within what structured outputs accept: known keywords only, every
    object closed (`additionalProperties: false`), no references (so no recursion)."""
    if not isinstance(schema, dict) or not schema.keys() <= SCHEMA_KEYWORDS:
        return False
    if "format" in schema and schema["format"] not in STRING_FORMATS:
        return False
    kinds = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    if ("object" in kinds or "properties" in schema) and schema.get("additionalProperties") is not False:
        return False
    properties = schema.get("properties", {})
    if not isinstance(properties, dict) or not all(fits_structured_outputs(p) for p in properties.values()):
        return False
    if "items" in schema and not fits_structured_outputs(schema["items"]):
        return False
    alternatives = schema.get("anyOf", [])
    return isinstance(alternatives, list) and all(fits_structured_outputs(a) for a in alternatives)


def output_format(request: dict[str, Any], model: str) -> dict[str, Any] | None:
    """The `output_config.format` for a `json_schema` response format the model can take as a
    structured output; None where the tool carries it (or the client asked for no JSON)."""
    fmt = request.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not has_structured_outputs(model):
        return None
    schema = json_schema_of(request)
    if schema is ANY_OBJECT or not fits_structured_outputs(schema):
        return None
    return {"type": "json_schema", "schema": schema}
