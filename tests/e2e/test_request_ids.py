"""Request ids through the real server, on SQLite and PostgreSQL: relaygate's own id names each
request (the answer's `x-request-id`, the usage record's key), and a client's own id rides along
beside it (`x-client-request-id`), so that a client sending one id many times still has every
request recorded and counted."""

from __future__ import annotations

from collections import Counter

import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, admin_client
from tests.e2e.test_admin_keys import create
from tests.e2e.test_admin_usage import USER, counts_of, get, wait_for


@pytest.fixture
def admin(admin_gateway) -> httpx.Client:
    with admin_client(admin_gateway) as client:
        yield client


def test_requests_sending_one_x_request_id_are_each_recorded_and_counted(admin_gateway, admin):
    """A retrying client or a proxy that repeats its id: each request has a record of its own, so the
    usage report and the key's spend count every one of them."""
    client = admin_gateway.client(key=create(admin, name="same-id")["key"])
    consumed, cost, ours = Counter(), 0.0, []
    for stream in (False, True, False):
        raw = client.chat.completions.with_raw_response.create(
            model="chat-default", messages=[USER], stream=stream, extra_headers={"x-request-id": "same"},
            **({"stream_options": {"include_usage": True}} if stream else {}))
        answer = raw.parse()
        usage = [chunk for chunk in answer if chunk.usage][-1].usage if stream else answer.usage
        consumed += counts_of(usage)
        cost += usage.cost
        assert raw.headers["x-client-request-id"] == "same"
        ours.append(raw.headers["x-request-id"])
    assert len(set(ours)) == 3 and "same" not in ours

    wait_for(admin, "same-id", 3)
    [row] = get(admin, "/admin/usage", key="same-id")["data"]
    assert {k: row[k] for k in consumed} == dict(consumed) and consumed["requests"] == 3
    assert row["cost"] == pytest.approx(cost, abs=1e-9) and cost > 0
    assert admin.get("/admin/keys/same-id").json()["spend"] == pytest.approx(cost, abs=1e-9)
    logged = get(admin, "/admin/requests", key="same-id")["data"]
    assert [(r["request_id"], r["client_request_id"]) for r in logged] == [(i, "same") for i in reversed(ours)]


def test_the_clients_id_is_echoed_stored_and_filtered_by(admin_gateway, admin):
    """`x-client-request-id` (OpenAI's header) wins over `x-request-id`; an id that is not a sane
    token is ignored; refused requests echo it too."""
    client = admin_gateway.client(key=create(admin, name="client-ids")["key"])

    def ask(**headers: str) -> httpx.Headers:
        return client.chat.completions.with_raw_response.create(
            model="chat-default", messages=[USER], extra_headers=headers).headers

    both = ask(**{"x-request-id": "theirs-1", "x-client-request-id": "mine-1"})
    insane = ask(**{"x-client-request-id": "has spaces", "x-request-id": "x" * 129})
    fallback = ask(**{"x-client-request-id": "a/b", "x-request-id": "legacy-1"})
    none = ask()
    assert both["x-client-request-id"] == "mine-1" and both["x-request-id"] not in ("mine-1", "theirs-1")
    assert "x-client-request-id" not in insane and "x-client-request-id" not in none
    assert fallback["x-client-request-id"] == "legacy-1"
    refused = httpx.post(f"{admin_gateway.base}/v1/chat/completions", json={"model": "chat-default"},
                         headers={"Authorization": "Bearer rg-no-such-key", "x-client-request-id": "mine-2"})
    assert refused.status_code == 401 and refused.headers["x-client-request-id"] == "mine-2"
    assert refused.headers["x-request-id"].startswith("req_")
    wrong = httpx.post(f"{admin_gateway.base}/v1/chat/completions", json={"model": "chat-default"},
                       headers={"Authorization": f"Bearer {CLIENT_KEY}", "x-request-id": "mine-3"})
    assert wrong.status_code == 400 and wrong.headers["x-client-request-id"] == "mine-3"

    wait_for(admin, "client-ids", 4)
    logged = get(admin, "/admin/requests", key="client-ids")["data"]
    assert [(r["request_id"], r["client_request_id"]) for r in logged] == [
        (none["x-request-id"], None), (fallback["x-request-id"], "legacy-1"), (insane["x-request-id"], None),
        (both["x-request-id"], "mine-1")]
    chosen = get(admin, "/admin/requests", client_request_id="mine-1")
    assert [r["request_id"] for r in chosen["data"]] == [both["x-request-id"]] and chosen["has_more"] is False
    assert get(admin, "/admin/requests", client_request_id="theirs-1")["data"] == []
    assert get(admin, "/admin/requests", key="client-ids", client_request_id="legacy-1")["data"] == [logged[1]]


def test_an_sdk_error_carries_both_ids(admin_gateway, admin):
    client = admin_gateway.client(key=create(admin, name="sdk-errors")["key"])
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=[USER],
                                       extra_headers={"x-client-request-id": "mine-4"})
    headers = missing.value.response.headers
    assert headers["x-client-request-id"] == "mine-4" and headers["x-request-id"] != "mine-4"
