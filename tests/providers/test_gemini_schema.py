"""JSON Schema → Gemini's Schema subset (providers/gemini/schema.py)."""

from __future__ import annotations

from relaygate.providers.gemini.schema import REJECTED_KEYWORDS, to_gemini_schema


def keywords(schema):
    """Every key used as a schema keyword anywhere in `schema` (property names excluded)."""
    found = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key == "properties":
                for sub in value.values():
                    found |= keywords(sub)
            elif isinstance(value, (dict, list)):
                found |= keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= keywords(item)
    return found


def test_pydantic_style_refs_are_inlined_and_optionals_become_nullable():
    schema = {
        "$defs": {"City": {"type": "object", "title": "City", "properties": {"name": {"type": "string"}},
                           "required": ["name"], "additionalProperties": False}},
        "type": "object",
        "properties": {
            "home": {"$ref": "#/$defs/City", "description": "Where they live"},
            "work": {"anyOf": [{"$ref": "#/$defs/City"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "additionalProperties": {"type": "string"},
        },
        "required": ["home"],
    }
    out = to_gemini_schema(schema)
    city = {"type": "object", "title": "City", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    assert out["properties"]["home"] == {**city, "description": "Where they live"}
    assert out["properties"]["work"] == {**city, "default": None, "nullable": True}
    assert out["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert out["properties"]["additionalProperties"] == {"type": "string"}, "a property may have any name"
    assert not (keywords(out) & REJECTED_KEYWORDS)


def test_const_one_of_all_of_and_type_lists():
    schema = {
        "type": "object",
        "properties": {
            "kind": {"const": "point"},
            "value": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "either": {"type": ["integer", "string"]},
            "merged": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer", "multipleOf": 2}}}],
                       "description": "d"},
        },
    }
    props = to_gemini_schema(schema)["properties"]
    assert props["kind"] == {"enum": ["point"]}
    assert props["value"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["merged"] == {"type": "object", "properties": {"a": {"type": "integer"}}, "description": "d"}


def test_a_recursive_ref_is_cut_off_not_followed_forever():
    schema = {"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
              "$ref": "#/$defs/Node"}
    out = to_gemini_schema(schema)
    depth = 0
    while "properties" in out:
        out = out["properties"]["next"]
        depth += 1
    assert out == {"type": "object"} and depth < 20


def test_a_dangling_ref_is_dropped_and_non_objects_pass_through():
    assert to_gemini_schema({"$ref": "#/$defs/Missing", "description": "x"}) == {"description": "x"}
    assert to_gemini_schema(True) is True
