"""/admin/openapi.json describes exactly the routes the admin API serves, is a valid OpenAPI 3.1
document, and the answers the API really gives fit its schemas."""

from __future__ import annotations

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from relaygate.admin.routes import ROUTES
from tests.e2e.conftest import admin_client
from tests.e2e.test_admin_keys import create

SERVED = {
    ("/admin/keys", "get"), ("/admin/keys", "post"), ("/admin/keys/{name}", "get"), ("/admin/keys/{name}", "patch"),
    ("/admin/keys/{name}", "delete"), ("/admin/keys/{name}/rotate", "post"), ("/admin/usage", "get"),
    ("/admin/requests", "get"), ("/admin/providers", "get"), ("/admin/openapi.json", "get"),
}


@pytest.fixture
def admin(admin_gateway) -> httpx.Client:
    with admin_client(admin_gateway) as client:
        yield client


@pytest.fixture
def document(admin) -> dict:
    response = admin.get("/admin/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    return response.json()


def test_the_document_is_valid_openapi_and_covers_every_route(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert described == {(route.path, route.method.lower()) for route in ROUTES} == SERVED
    assert document["components"]["securitySchemes"]["adminKey"] == {
        "type": "http", "scheme": "bearer", "description": "The configuration's `admin_key`"}
    assert document["security"] == [{"adminKey": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert {"200", "201"} & set(operation["responses"]) and "401" in operation["responses"], (path, method)
            assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == (
                ["name"] if "{name}" in path else [])
    assert "requestBody" in document["paths"]["/admin/keys"]["post"]
    assert "requestBody" in document["paths"]["/admin/keys/{name}"]["patch"]
    query = {p["name"] for p in document["paths"]["/admin/requests"]["get"]["parameters"]}
    assert query == {"key", "model", "provider", "client_request_id", "status", "since", "until", "limit", "before"}
    assert "client_request_id" in document["components"]["schemas"]["RequestView"]["properties"]


def _fits(document: dict, path: str, method: str, status: int, body: object) -> None:
    response = document["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = {**response["content"]["application/json"]["schema"], "components": document["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
    assert errors == [], (path, method, status, errors)


def test_real_answers_fit_the_documented_schemas(admin_gateway, admin, document):
    made = create(admin, name="documented", models=["chat-default"], rpm=10, metadata={"k": 1})
    _fits(document, "/admin/keys", "post", 201, made)
    admin_gateway.client(key=made["key"]).chat.completions.create(
        model="chat-default", messages=[{"role": "user", "content": "Hi"}])
    answers = [
        ("/admin/keys", "get", admin.get("/admin/keys")),
        ("/admin/keys/{name}", "patch", admin.patch("/admin/keys/documented", json={"tpm": 1000})),
        ("/admin/keys/{name}/rotate", "post", admin.post("/admin/keys/documented/rotate")),
        ("/admin/usage", "get", admin.get("/admin/usage", params={"group_by": "day,model"})),
        ("/admin/usage", "get", admin.get("/admin/usage")),
        ("/admin/requests", "get", admin.get("/admin/requests")),
        ("/admin/providers", "get", admin.get("/admin/providers")),
        ("/admin/keys/{name}", "delete", admin.delete("/admin/keys/documented")),
        ("/admin/keys/{name}", "get", admin.get("/admin/keys/nobody")),
        ("/admin/keys", "post", admin.post("/admin/keys", json={"name": "documented"})),
        ("/admin/usage", "get", admin.get("/admin/usage", params={"group_by": "hour"})),
        ("/admin/keys", "get", httpx.get(admin_gateway.base + "/admin/keys")),
    ]
    for path, method, response in answers:
        _fits(document, path, method, response.status_code, response.json())
