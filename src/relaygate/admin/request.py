"""One admin request as the handlers see it, and the parsing of its query and body into models;
a body or parameter that does not fit is a 400 that names the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError

from relaygate.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class AdminRequest:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)  # from the route's {placeholders}
    query_string: bytes = b""
    body: bytes = b""


def _invalid(exc: ValidationError, part: str, whole: str) -> InvalidRequest:
    """The first problem, in words, with the field named in `param`."""
    error = exc.errors(include_url=False)[0]
    location = ".".join(str(item) for item in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if not location:
        return InvalidRequest(f"The {whole} is not valid: {message}.")
    if error["type"] == "extra_forbidden":
        return InvalidRequest(f"Unknown {part} `{location}`.", param=location)
    return InvalidRequest(f"Invalid {part} `{location}`: {message}.", param=location)


def parse_query(model: type[M], query_string: bytes) -> M:
    """Query parameters into `model`; empty ones count as absent, repeated or unknown ones are refused."""
    values: dict[str, Any] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=False):
        if name in values:
            raise InvalidRequest(f"The query parameter `{name}` is given more than once.", param=name)
        values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _invalid(exc, "query parameter", "query") from None


def parse_body(model: type[M], body: bytes) -> M:
    if not body.strip():
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid(exc, "field", "request body") from None
