"""The dashboard's files as the real server serves them at /ui: types, caching, nothing else."""

from __future__ import annotations

import re

import httpx
import pytest


def test_the_page_and_its_modules_are_served_with_their_types(gateway):
    page = httpx.get(f"{gateway.base}/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{gateway.base}/ui/").text == page.text
    assets = re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text)
    assert {"/ui/app.js", "/ui/app.css", "/ui/favicon.svg"} <= set(assets)
    kinds = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    for path in assets:
        answer = httpx.get(gateway.base + path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"] == kinds[path[path.rfind("."):]]
    imports = re.findall(r'from "\./(views/\w+\.js)"', httpx.get(f"{gateway.base}/ui/app.js").text)
    assert len(imports) == 4
    for module in imports:
        assert httpx.get(f"{gateway.base}/ui/{module}").headers["content-type"].startswith("text/javascript")


def test_an_unchanged_file_is_revalidated_with_a_304(gateway):
    first = httpx.get(f"{gateway.base}/ui/app.js")
    assert first.headers["cache-control"] == "no-cache"
    again = httpx.get(f"{gateway.base}/ui/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    changed = httpx.get(f"{gateway.base}/ui/app.js", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200
    assert changed.content == first.content


@pytest.mark.parametrize("path", [
    "/ui/../pyproject.toml", "/ui/%2e%2e/app.py", "/ui/..%2fapp.py", "/ui/views/../../app.py",
    "/ui/assets.py", "/ui/__init__.py", "/ui/nothing.js", "/ui/static/app.js", "/uix",
])
def test_only_the_dashboard_files_are_reachable(gateway, path):
    answer = httpx.get(gateway.base + path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_the_files_are_read_only(gateway):
    answer = httpx.post(f"{gateway.base}/ui/app.js", content=b"x")
    assert answer.status_code == 405
    assert answer.json()["error"]["type"] == "invalid_request_error"
