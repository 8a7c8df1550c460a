"""Example values for a JSON schema: what tool-call arguments and `json_schema` answers are filled with."""

from __future__ import annotations

from typing import Any

EXAMPLE_STRING = "Tokyo"


def example_for(schema: Any) -> Any:
    """A value that satisfies the common parts of `schema` (type, enum, const, properties, items)."""
    if not isinstance(schema, dict):
        return EXAMPLE_STRING
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return example_for(schema[key][0])
    return _by_type(_first_type(schema), schema)


def example_object(schema: Any) -> dict[str, Any]:
    """An object filled from the schema's `properties` (empty when it has none)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {name: example_for(sub) for name, sub in properties.items()}


def _first_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else "string"


def _by_type(kind: str, schema: dict[str, Any]) -> Any:
    if kind == "object":
        return example_object(schema)
    if kind == "array":
        return [example_for(schema.get("items"))]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return EXAMPLE_STRING
