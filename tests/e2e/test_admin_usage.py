"""/admin/usage and /admin/requests after real traffic through the real server, on SQLite and
PostgreSQL: the numbers are what the answers' own `usage` said, grouped and filtered as asked."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import openai
import pytest

from tests.e2e.conftest import admin_client
from tests.e2e.test_admin_keys import assert_error, create

USER = {"role": "user", "content": "Hello there"}
COUNTS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")
REQUEST_FIELDS = {
    "id", "request_id", "client_request_id", "created_at", "key", "model", "provider", "upstream_model", "status", "error_code", "stream",
    "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "cost", "latency_ms", "ttft_ms",
    "attempts", "estimated",
}


@pytest.fixture
def admin(admin_gateway) -> httpx.Client:
    with admin_client(admin_gateway) as client:
        yield client


def counts_of(usage) -> Counter:
    prompt_details = usage.prompt_tokens_details
    completion_details = usage.completion_tokens_details
    return Counter({
        "requests": 1, "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "reasoning_tokens": (completion_details.reasoning_tokens or 0) if completion_details else 0,
        "cached_tokens": (prompt_details.cached_tokens or 0) if prompt_details else 0,
    })


def ask(client: openai.OpenAI, model: str, stream: bool = False) -> tuple[str, object]:
    """One request; its x-request-id and the usage the answer reported."""
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[USER], stream=stream, **({"stream_options": {"include_usage": True}} if stream else {}))
    answer = raw.parse()
    usage = [chunk for chunk in answer if chunk.usage][-1].usage if stream else answer.usage
    return raw.headers["x-request-id"], usage


def get(admin: httpx.Client, path: str, **params) -> dict:
    response = admin.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(admin: httpx.Client, key: str, requests: int) -> None:
    """The meter writes records in batches, a moment after each answer."""
    deadline = time.monotonic() + 10
    while get(admin, "/admin/usage", key=key, group_by="key")["total"]["requests"] < requests:
        assert time.monotonic() < deadline, f"{key}: fewer than {requests} requests recorded"
        time.sleep(0.1)


def test_usage_groups_and_filters_add_up_to_what_the_answers_reported(admin_gateway, admin):
    clients = {name: admin_gateway.client(key=create(admin, name=name)["key"]) for name in ("usage-a", "usage-b")}
    consumed: dict[tuple[str, str], Counter] = {}
    cost: Counter = Counter()
    for key, model, stream in [("usage-a", "chat-default", False), ("usage-a", "chat-default", True),
                               ("usage-a", "deepseek/deepseek-reasoner", False), ("usage-b", "chat-default", False)]:
        _, usage = ask(clients[key], model, stream)
        consumed[key, model] = consumed.get((key, model), Counter()) + counts_of(usage)
        cost[key, model] += usage.cost
    wait_for(admin, "usage-a", 3)
    wait_for(admin, "usage-b", 1)
    today = datetime.now(timezone.utc).date().isoformat()

    by_model = get(admin, "/admin/usage", key="usage-a", group_by="model")
    assert [row["model"] for row in by_model["data"]] == ["chat-default", "deepseek/deepseek-reasoner"]
    for row in by_model["data"]:
        assert set(row) == {"model", "requests", *COUNTS, "cost"}
        assert {k: row[k] for k in ("requests", *COUNTS)} == {k: consumed["usage-a", row["model"]][k]
                                                             for k in ("requests", *COUNTS)}
        assert row["cost"] == pytest.approx(cost["usage-a", row["model"]], abs=1e-9)
    assert consumed["usage-a", "deepseek/deepseek-reasoner"]["reasoning_tokens"] > 0
    assert by_model["total"]["requests"] == 3
    assert by_model["total"]["cost"] == pytest.approx(sum(v for (k, _), v in cost.items() if k == "usage-a"))

    by_day_and_key = get(admin, "/admin/usage", model="chat-default", group_by="day,key")
    mine = [row for row in by_day_and_key["data"] if row["key"] in clients]
    assert [(row["day"], row["key"], row["requests"]) for row in mine] == [(today, "usage-a", 2), (today, "usage-b", 1)]
    assert all(set(row) == {"day", "key", "requests", *COUNTS, "cost"} for row in mine)

    by_day_and_model = get(admin, "/admin/usage", key="usage-a", group_by="day,model", since=today, until=today)
    assert [(r["day"], r["model"]) for r in by_day_and_model["data"]] == [
        (today, "chat-default"), (today, "deepseek/deepseek-reasoner")]
    ungrouped = get(admin, "/admin/usage", key="usage-b")
    assert [(r["day"], r["key"], r["model"]) for r in ungrouped["data"]] == [(today, "usage-b", "chat-default")]

    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    nothing = {"data": [], "total": {"requests": 0, "cost": 0}}
    assert get(admin, "/admin/usage", key="usage-a", since=tomorrow) == nothing
    assert get(admin, "/admin/usage", key="usage-a", until=yesterday)["data"] == []

    cli = admin_gateway.cli("usage", "--json", "--key", "usage-a", "--group-by", "model")
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == by_model

    spent = admin.get("/admin/keys/usage-a").json()["spend"]
    assert spent == pytest.approx(by_model["total"]["cost"], abs=1e-9) and spent > 0
    daily = admin.patch("/admin/keys/usage-a", json={"budget": 100, "budget_period": "daily"}).json()
    assert daily["spend"] == pytest.approx(spent, abs=1e-9)
    listed = {k["name"]: k["spend"] for k in admin.get("/admin/keys").json()["data"]}
    assert listed["usage-b"] == pytest.approx(cost["usage-b", "chat-default"], abs=1e-9)


@pytest.mark.parametrize("params, param", [
    ({"group_by": "week"}, "group_by"), ({"group_by": "day,day"}, "group_by"), ({"group_by": "day,"}, "group_by"),
    ({"since": "03/01/2026"}, "since"), ({"until": "soon"}, "until"), ({"colour": "blue"}, "colour"),
])
def test_bad_usage_parameters_are_400(admin, params, param):
    assert_error(admin.get("/admin/usage", params=params), 400, "invalid_request", param)
    assert_error(admin.get("/admin/usage?key=a&key=b"), 400, "invalid_request", "key")


def test_the_request_log_lists_each_request_newest_first_with_filters_and_pages(admin_gateway, admin, emulator):
    client = admin_gateway.client(key=create(admin, name="logged")["key"])
    made = [ask(client, "chat-default"), ask(client, "deepseek/deepseek-chat"), ask(client, "chat-default", True)]
    emulator.script({"status": 500})
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="chat-default", messages=[USER])
    made.append((failed.value.response.headers["x-request-id"], None))
    made.append(ask(client, "chat-default"))
    wait_for(admin, "logged", 5)

    page = get(admin, "/admin/requests", key="logged")
    rows = page["data"]
    assert page["has_more"] is False
    assert [row["request_id"] for row in rows] == [request_id for request_id, _ in reversed(made)]
    assert all(set(row) == REQUEST_FIELDS and row["key"] == "logged" for row in rows)
    assert [row["created_at"] for row in rows] == sorted((row["created_at"] for row in rows), reverse=True)

    newest, failure, streamed, deepseek, oldest = rows
    for row, (_, usage) in zip(reversed(rows), made, strict=True):
        if usage is not None:
            assert {k: row[k] for k in COUNTS} == {k: counts_of(usage)[k] for k in COUNTS}
            assert row["cost"] == pytest.approx(usage.cost, abs=1e-9) and row["status"] == 200
    assert (deepseek["model"], deepseek["provider"], deepseek["upstream_model"]) == (
        "deepseek/deepseek-chat", "deepseek", "deepseek-chat")
    assert (oldest["provider"], oldest["upstream_model"], oldest["stream"]) == ("alibaba", "qwen-plus", False)
    assert streamed["stream"] is True and streamed["ttft_ms"] is not None
    assert (failure["status"], failure["error_code"], failure["cost"]) == (502, "upstream_error", 0)
    assert failure["provider"] is None  # no deployment answered; the attempts say which were tried
    assert [(a["provider"], a["status"]) for a in failure["attempts"]] == [("alibaba", 502)]
    assert [(a["provider"], a["model"], a["status"]) for a in deepseek["attempts"]] == [
        ("deepseek", "deepseek-chat", 200)]

    def ids(**params) -> list[int]:
        return [row["id"] for row in get(admin, "/admin/requests", key="logged", **params)["data"]]

    assert ids(model="deepseek/deepseek-chat") == [deepseek["id"]]
    assert ids(provider="deepseek") == [deepseek["id"]]
    assert ids(provider="alibaba") == [r["id"] for r in rows if r not in (deepseek, failure)]
    assert ids(status="error") == ids(status="502") == [failure["id"]]
    assert ids(status="ok") == ids(status="200") == [r["id"] for r in rows if r is not failure]
    assert ids(since=newest["created_at"]) == [newest["id"]]
    assert ids(until=oldest["created_at"]) == [oldest["id"]]
    assert ids(since=oldest["created_at"], until=newest["created_at"]) == [r["id"] for r in rows]
    today = datetime.now(timezone.utc).date()
    assert ids(until=today.isoformat()) == [r["id"] for r in rows]
    assert ids(since=(today + timedelta(days=1)).isoformat()) == []

    paged, before = [], None
    while True:
        page = get(admin, "/admin/requests", key="logged", limit=2, **({"before": before} if before else {}))
        paged += page["data"]
        assert len(page["data"]) <= 2
        if not page["has_more"]:
            break
        before = page["data"][-1]["id"]
    assert paged == rows
    everyone = get(admin, "/admin/requests", limit=500)["data"]
    assert [r["id"] for r in everyone if r["key"] == "logged"] == [r["id"] for r in rows]


@pytest.mark.parametrize("params, param", [
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "many"}, "limit"),
    ({"before": "abc"}, "before"), ({"before": "0"}, "before"), ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01"}, "until"), ({"status": "oops"}, "status"), ({"status": "99"}, "status"),
    ({"offset": "10"}, "offset"),
])
def test_bad_request_log_parameters_are_400(admin, params, param):
    assert_error(admin.get("/admin/requests", params=params), 400, "invalid_request", param)
