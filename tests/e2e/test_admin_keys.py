"""/admin/keys through the real server, on SQLite and PostgreSQL: keys made, changed, disabled,
rotated and revoked over HTTP work (or stop) for `openai` SDK clients, and bad input is a 400."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, admin_client, start_gateway
from tests.e2e.test_database_keys import eventually

USER = {"role": "user", "content": "Hello"}
PUBLIC_FIELDS = {
    "name", "prefix", "status", "metadata", "models", "budget", "budget_period", "rpm", "tpm", "max_concurrency",
    "expires_at", "disabled", "revoked", "revoked_at", "created_at", "updated_at", "spend",
}


@pytest.fixture
def admin(admin_gateway) -> httpx.Client:
    with admin_client(admin_gateway) as client:
        yield client


def create(admin: httpx.Client, **body) -> dict:
    response = admin.post("/admin/keys", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


def refused(client: openai.OpenAI, error: type[Exception], model: str = "chat-default"):
    def check() -> None:
        try:
            client.chat.completions.create(model=model, messages=[USER])
        except error:
            return
        raise AssertionError(f"no {error.__name__} yet")
    return check


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-admin-key", f"Basic {ADMIN_KEY}",
                                           f"Bearer {CLIENT_KEY}", "Bearer"])
def test_the_admin_api_wants_the_admin_key(admin_gateway, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in [("GET", "/admin/keys"), ("POST", "/admin/keys"), ("DELETE", "/admin/keys/any"),
                         ("GET", "/admin/openapi.json"), ("GET", "/admin/no-such-thing")]:
        response = httpx.request(method, admin_gateway.base + path, headers=headers, json={"name": "x"})
        assert_error(response, 401, "invalid_api_key")
        assert ADMIN_KEY not in response.text
    assert ADMIN_KEY not in admin_gateway.log()


def test_without_an_admin_key_the_admin_api_says_it_is_off(gateway):
    for method, path in [("GET", "/admin/keys"), ("POST", "/admin/keys/x/rotate"), ("GET", "/admin/openapi.json")]:
        response = httpx.request(method, gateway.base + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        error = assert_error(response, 403, "admin_api_disabled")
        assert "admin_key" in error["message"]


def test_a_created_key_works_with_the_sdk_and_its_secret_is_shown_once(admin_gateway, admin):
    made = create(admin, name="made-over-http", metadata={"team": "search"}, budget="12.5",
                  budget_period="monthly", expires_at="2099-01-01T00:00:00")
    secret = made.pop("key")
    assert secret.startswith(made["prefix"]) and len(secret) > len(made["prefix"])
    assert made["status"] == "active" and made["revoked"] is False and made["spend"] == 0
    assert (made["budget"], made["budget_period"], made["metadata"]) == (12.5, "monthly", {"team": "search"})
    assert made["expires_at"].startswith("2099-01-01T00:00:00")
    client = admin_gateway.client(key=secret)
    eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))

    listing = admin.get("/admin/keys")
    assert listing.status_code == 200 and secret not in listing.text
    (entry,) = [k for k in listing.json()["data"] if k["name"] == "made-over-http"]
    assert set(entry) == PUBLIC_FIELDS and entry["prefix"] == made["prefix"]
    one = admin.get("/admin/keys/made-over-http")
    assert one.json() == {**entry, "spend": one.json()["spend"]} and secret not in one.text
    assert secret not in admin_gateway.log()


def test_model_and_rpm_changes_take_effect(admin_gateway, admin):
    secret = create(admin, name="to-be-limited")["key"]
    client = admin_gateway.client(key=secret)
    eventually(lambda: client.chat.completions.create(model="deepseek/deepseek-chat", messages=[USER]))

    changed = admin.patch("/admin/keys/to-be-limited", json={"models": ["chat-default"], "rpm": 2})
    assert changed.status_code == 200 and (changed.json()["models"], changed.json()["rpm"]) == (["chat-default"], 2)
    eventually(refused(client, openai.PermissionDeniedError, "deepseek/deepseek-chat"))
    with pytest.raises(openai.RateLimitError):
        for _ in range(3):
            client.chat.completions.create(model="chat-default", messages=[USER])

    cleared = admin.patch("/admin/keys/to-be-limited", json={"models": None, "rpm": None})
    assert (cleared.json()["models"], cleared.json()["rpm"]) == (None, None)
    eventually(lambda: client.chat.completions.create(model="deepseek/deepseek-chat", messages=[USER]))


def test_a_change_reaches_another_instance_on_the_same_database(admin_gateway, admin, tmp_path):
    """The second instance hears of it only through its key cache's refresh (within a second)."""
    secret = create(admin, name="seen-elsewhere")["key"]
    with start_gateway(admin_gateway.config_path.read_text(), tmp_path, admin_gateway.env) as other:
        client = other.client(key=secret)
        eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))
        assert admin.patch("/admin/keys/seen-elsewhere", json={"models": ["reasoner"]}).status_code == 200
        eventually(refused(client, openai.PermissionDeniedError))
        assert admin.delete("/admin/keys/seen-elsewhere").status_code == 200
        eventually(refused(client, openai.AuthenticationError, "reasoner"))


def test_disable_enable_and_revoke(admin_gateway, admin):
    secret = create(admin, name="switched")["key"]
    client = admin_gateway.client(key=secret)
    eventually(lambda: client.models.list())
    disabled = admin.patch("/admin/keys/switched", json={"disabled": True}).json()
    assert (disabled["disabled"], disabled["status"]) == (True, "disabled")
    eventually(refused(client, openai.AuthenticationError))
    assert admin.patch("/admin/keys/switched", json={"disabled": False}).json()["status"] == "active"
    eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))

    revoked = admin.delete("/admin/keys/switched")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True and revoked.json()["revoked_at"]
    eventually(refused(client, openai.AuthenticationError))
    again = admin.delete("/admin/keys/switched")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert_error(admin.patch("/admin/keys/switched", json={"rpm": 5}), 409, "key_revoked")
    assert_error(admin.post("/admin/keys/switched/rotate"), 409, "key_revoked")
    assert_error(admin.post("/admin/keys", json={"name": "switched"}), 409, "key_exists", "name")


def test_rotation_stops_the_old_secret_and_starts_the_new(admin_gateway, admin):
    old = create(admin, name="rotated", rpm=100)["key"]
    eventually(lambda: admin_gateway.client(key=old).models.list())
    rotated = admin.post("/admin/keys/rotated/rotate")
    assert rotated.status_code == 200
    new = rotated.json()["key"]
    assert new != old and new.startswith(rotated.json()["prefix"]) and rotated.json()["rpm"] == 100
    eventually(lambda: admin_gateway.client(key=new).chat.completions.create(model="chat-default", messages=[USER]))
    eventually(refused(admin_gateway.client(key=old), openai.AuthenticationError))


def test_a_duplicate_name_is_a_conflict(admin):
    create(admin, name="twice")
    error = assert_error(admin.post("/admin/keys", json={"name": "twice", "rpm": 3}), 409, "key_exists", "name")
    assert "twice" in error["message"]
    assert admin.get("/admin/keys/twice").json()["rpm"] is None


@pytest.mark.parametrize("body, param", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "has space"}, "name"),
    ({"name": 7}, "name"),
    ({"name": "k", "rpm": 0}, "rpm"),
    ({"name": "k", "rpm": "5"}, "rpm"),
    ({"name": "k", "tpm": 1.5}, "tpm"),
    ({"name": "k", "max_concurrency": True}, "max_concurrency"),
    ({"name": "k", "budget": -1}, "budget"),
    ({"name": "k", "budget": "lots"}, "budget"),
    ({"name": "k", "budget_period": "weekly"}, "budget_period"),
    ({"name": "k", "models": "chat-default"}, "models"),
    ({"name": "k", "models": []}, "models"),
    ({"name": "k", "models": ["ok", ""]}, "models"),
    ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
    ({"name": "k", "metadata": [1, 2]}, "metadata"),
    ({"name": "k", "colour": "blue"}, "colour"),
])
def test_bad_bodies_are_400_naming_the_field(admin, body, param):
    assert_error(admin.post("/admin/keys", json=body), 400, "invalid_request", param)


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]", b'"name"', b'{"name": "k",'])
def test_a_body_that_is_not_a_json_object_is_400(admin, content):
    response = admin.post("/admin/keys", content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")
    response = admin.patch("/admin/keys/anything", content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")


def test_patch_refuses_bad_settings_and_keeps_the_old_ones(admin):
    create(admin, name="kept", rpm=7)
    assert_error(admin.patch("/admin/keys/kept", json={"rpm": -1}), 400, param="rpm")
    assert_error(admin.patch("/admin/keys/kept", json={"disabled": "yes"}), 400, param="disabled")
    assert_error(admin.patch("/admin/keys/kept", json={"name": "renamed"}), 400, param="name")
    assert admin.get("/admin/keys/kept").json()["rpm"] == 7


def test_unknown_keys_paths_and_methods(admin):
    for method, path in [("GET", "/admin/keys/nobody"), ("DELETE", "/admin/keys/nobody"),
                         ("POST", "/admin/keys/nobody/rotate")]:
        assert_error(admin.request(method, path), 404, "key_not_found")
    assert_error(admin.patch("/admin/keys/nobody", json={"rpm": 1}), 404, "key_not_found")
    assert_error(admin.get("/admin/keys/nobody/elsewhere"), 404, "not_found")
    wrong = admin.put("/admin/keys/nobody", json={})
    assert_error(wrong, 405, "method_not_allowed")
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    assert_error(admin.delete("/admin/keys"), 405, "method_not_allowed")
    assert_error(admin.get("/admin/keys/nobody/rotate"), 405, "method_not_allowed")


def test_without_a_database_the_key_routes_say_so(emulator, tmp_path):
    config = f"""
database: null
admin_key: {ADMIN_KEY}
providers:
  up: {{type: openai, base_url: "{emulator.base}/openai/v1", api_key: sk-up-openai-secret-1}}
"""
    with start_gateway(config, tmp_path) as gateway, admin_client(gateway) as admin:
        for method, path in [("GET", "/admin/keys"), ("POST", "/admin/keys"), ("GET", "/admin/usage"),
                             ("GET", "/admin/requests")]:
            error = assert_error(admin.request(method, path, json={"name": "x"}), 501, "no_database")
            assert "database: null" in error["message"]
        assert admin.get("/admin/providers").status_code == 200
