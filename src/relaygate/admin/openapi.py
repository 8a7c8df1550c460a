"""/admin/openapi.json: an OpenAPI 3.1 document made from the route table and its pydantic models,
so it describes exactly what the dispatcher serves."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from relaygate import __version__
from relaygate.admin.models import ErrorBody
from relaygate.admin.request import AdminRequest

if TYPE_CHECKING:
    from relaygate.admin.api import AdminApi
    from relaygate.admin.routes import Route

REF = "#/components/schemas/{model}"
ERRORS = {
    400: "The body or a parameter is not valid (the message and `param` say which)",
    401: "No admin key, or not the configured one",
    403: "The admin API is off: no `admin_key` in the configuration",
    404: "No key of that name",
    409: "A key of that name exists, or the key is revoked",
    413: "The body is larger than server.max_body_bytes",
    501: "The gateway has no database (`database: null`)",
}


def _errors(route: Route) -> list[int]:
    codes = [401, 403]
    if route.body is not None or route.query is not None:
        codes.append(400)
    if route.params:
        codes.append(404)
    if route.conflict:
        codes.append(409)
    if route.body is not None:
        codes.append(413)
    if route.store:
        codes.append(501)
    return sorted(codes)


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without the `null` an optional field adds: absent means null."""
    options = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    if len(options) == 1:
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
    return {k: v for k, v in schema.items() if k not in ("title", "description") and (k, v) != ("default", None)}


def _parameters(route: Route) -> list[dict[str, Any]]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.params]
    if route.query is not None:
        schema = route.query.model_json_schema(mode="validation")
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            param = {"name": name, "in": "query", "required": name in required, "schema": _plain(prop)}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(route: Route, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    body = refs[(route.response, "serialization")] if route.response is not None else {"type": "object"}
    responses: dict[str, Any] = {str(route.status): {"description": route.summary, "content": _json(body)}}
    responses.update({str(code): {"$ref": f"#/components/responses/E{code}"} for code in _errors(route)})
    operation: dict[str, Any] = {"operationId": route.handler.__name__, "summary": route.summary,
                                 "parameters": _parameters(route), "responses": responses}
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _json(refs[(route.body, "validation")])}
    return operation


@cache
def build(routes: tuple[Route, ...]) -> dict[str, Any]:
    models = {(r.response, "serialization") for r in routes if r.response is not None}
    models |= {(r.body, "validation") for r in routes if r.body is not None} | {(ErrorBody, "serialization")}
    refs, definitions = models_json_schema(sorted(models, key=lambda m: m[0].__name__), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    error = {"$ref": REF.format(model="ErrorBody")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "relaygate admin API", "version": __version__,
                 "description": "Keys, usage, the request log and provider health of a relaygate gateway."},
        "paths": paths,
        "components": {
            "schemas": definitions["$defs"],
            "responses": {f"E{code}": {"description": text, "content": _json(error)} for code, text in ERRORS.items()},
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer",
                                             "description": "The configuration's `admin_key`"}},
        },
        "security": [{"adminKey": []}],
    }


async def document(api: AdminApi, request: AdminRequest) -> tuple[int, bytes]:
    return 200, orjson.dumps(build(api.routes))
