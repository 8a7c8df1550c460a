"""JSON Schema, as OpenAI clients write it, → the subset of OpenAPI 3.0 that Gemini's `Schema` takes.

Gemini's Schema (https://ai.google.dev/api/caching#Schema) knows type, format, title,
description, nullable, enum, items, min/maxItems, properties, required, min/maxProperties,
min/maxLength, pattern, minimum, maximum, anyOf, propertyOrdering, default and example. Any other
keyword is refused with a 400 ("Invalid JSON payload received. Unknown name ..."), so the keywords
below are dropped. What can be kept in another form is: local `$ref`s are inlined, a type list
with "null" becomes `nullable`, `const` a one-value `enum`, `oneOf` an `anyOf`.
"""

from __future__ import annotations

from typing import Any

REJECTED_KEYWORDS = frozenset({
    "$schema", "$id", "$anchor", "$comment", "$defs", "definitions", "$ref",
    "additionalProperties", "unevaluatedProperties", "patternProperties", "propertyNames",
    "dependentRequired", "dependentSchemas", "if", "then", "else", "not", "allOf",
    "contains", "minContains", "maxContains", "prefixItems", "additionalItems", "uniqueItems",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "examples",
    "readOnly", "writeOnly", "deprecated", "contentEncoding", "contentMediaType", "strict",
})
# Gemini refuses other string formats: "only 'enum' and 'date-time' are supported for STRING type".
STRING_FORMATS = frozenset({"enum", "date-time"})
MAX_REF_DEPTH = 8  # a recursive model is cut off here and left as a plain object

Schema = dict[str, Any]


def to_gemini_schema(schema: Any) -> Any:
    """The Gemini form of a JSON schema; anything that is not an object is returned as it came."""
    if not isinstance(schema, dict):
        return schema
    return _convert(schema, schema, 0)


def _convert(node: Schema, root: Schema, depth: int) -> Schema:
    node = _inline(node, root, depth)
    if depth > MAX_REF_DEPTH:
        return {"type": "object"}
    out: Schema = {}
    for key, value in node.items():
        if key not in REJECTED_KEYWORDS:
            out[key] = _child(key, value, root, depth)
    if "allOf" in node:
        out = _merge_all_of(node["allOf"], out, root, depth)
    return _simplify(out)


def _child(key: str, value: Any, root: Schema, depth: int) -> Any:
    if key == "properties" and isinstance(value, dict):
        return {name: _sub(sub, root, depth) for name, sub in value.items()}
    if key == "items":
        return _sub(value, root, depth)
    if key in ("anyOf", "oneOf") and isinstance(value, list):
        return [_sub(sub, root, depth) for sub in value]
    return value


def _sub(value: Any, root: Schema, depth: int) -> Any:
    return _convert(value, root, depth + 1) if isinstance(value, dict) else value


def _inline(node: Schema, root: Schema, depth: int) -> Schema:
    """A node that is a local `$ref` (`#/$defs/X`, `#/definitions/X`) becomes what it points at,
    with the node's own keywords (such as a description) kept on top."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/") or depth > MAX_REF_DEPTH:
        return node
    target: Any = root
    for step in ref[2:].split("/"):
        target = target.get(step) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return {k: v for k, v in node.items() if k != "$ref"}
    return {**_inline(target, root, depth + 1), **{k: v for k, v in node.items() if k != "$ref"}}


def _merge_all_of(branches: Any, out: Schema, root: Schema, depth: int) -> Schema:
    """`allOf` (pydantic writes it around a single `$ref`) merged into one schema."""
    merged: Schema = {}
    for branch in branches if isinstance(branches, list) else []:
        if isinstance(branch, dict):
            merged.update(_convert(branch, root, depth + 1))
    return {**merged, **out}


def _simplify(out: Schema) -> Schema:
    if "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("type"), list):
        out.update(_type_list(out.pop("type")))
    if isinstance(out.get("anyOf"), list):
        out = _null_branch(out)
    if out.get("type") == "string" and "format" in out and out["format"] not in STRING_FORMATS:
        del out["format"]
    return out


def _type_list(types: list[Any]) -> Schema:
    """["string", "null"] → type + nullable; several real types → anyOf."""
    real = [t for t in types if t != "null"]
    out: Schema = {"nullable": True} if len(real) < len(types) else {}
    if len(real) == 1:
        out["type"] = real[0]
    elif real:
        out["anyOf"] = [{"type": t} for t in real]
    return out


def _null_branch(out: Schema) -> Schema:
    """`anyOf: [X, {"type": "null"}]` (pydantic's Optional[X]) → X with `nullable: true`."""
    branches = [b for b in out["anyOf"] if not (isinstance(b, dict) and b.get("type") == "null")]
    if len(branches) == len(out["anyOf"]):
        return out
    rest = {k: v for k, v in out.items() if k != "anyOf"}
    if len(branches) == 1 and isinstance(branches[0], dict):
        return {**branches[0], **rest, "nullable": True}
    return {**rest, "anyOf": branches, "nullable": True}
