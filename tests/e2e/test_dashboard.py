"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, on the real
gateway (SQLite, emulated upstream). An operator signs in, makes a key in the page, and the key's
traffic through the `openai` SDK shows in the request log, the usage charts and the provider table;
the key disabled, enabled, rotated, limited and revoked in the page is honoured for the SDK client.

Screenshots of each page land in test-artifacts/ui/ for a person to look at.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import openai
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import (
    ROOT,
    UPSTREAM_KEYS,
    Emulator,
    Gateway,
    free_port,
    gateway_config,
    start_gateway,
)

CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/test-services.sh); Playwright downloads nothing
ADMIN_KEY = "rg-dashboard-admin-key-0001"
SHOTS = ROOT / "test-artifacts" / "ui"
USER = {"role": "user", "content": "Hello from the dashboard test"}
WAIT_MS = 5000  # for the page to show what the gateway has: key refresh and usage writes are asynchronous


@pytest.fixture(scope="module")
def ui_gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("dashboard")
    config = gateway_config(emulator.base, free_port())
    config += f"admin_key: {ADMIN_KEY}\ndatabase: sqlite:///{workdir / 'relaygate.db'}\n"
    with start_gateway(config, workdir, {"TEST_DASHSCOPE_KEY": UPSTREAM_KEYS["alibaba"]}) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], "the page threw"


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def sign_in(page: Page, gateway: Gateway, key: str) -> None:
    page.goto(gateway.base + "/ui")
    page.fill("#signin-form input[name=key]", key)
    page.click("#signin-form button[type=submit]")


def view(page: Page, name: str) -> None:
    page.click(f"nav a[data-view={name}]")
    expect(page.locator(f"main[data-view={name}]")).to_be_visible()


def eventually(check, seconds: float = 2.0) -> None:
    """Key changes reach the request path within a second (the key cache refreshes twice a second)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except (AssertionError, openai.APIStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def refused_with(client: openai.OpenAI, error: type[openai.APIStatusError]):
    def check() -> None:
        try:
            client.chat.completions.create(model="chat-default", messages=[USER])
        except error:
            return
        raise AssertionError(f"no {error.__name__} yet")
    return check


def test_a_wrong_admin_key_is_refused_and_signing_out_forgets_the_key(ui_gateway, page):
    sign_in(page, ui_gateway, "rg-not-the-admin-key")
    expect(page.locator("#signin-error")).to_contain_text("not accepted")
    expect(page.locator("#shell")).to_be_hidden()
    shoot(page, "sign-in")

    sign_in(page, ui_gateway, ADMIN_KEY)
    expect(page.locator("#shell")).to_be_visible()
    page.reload()  # the key lives in this tab's sessionStorage
    expect(page.locator("main[data-view=usage]")).to_be_visible()
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(page.locator("#signin")).to_be_visible()


def test_a_key_made_in_the_dashboard_serves_shows_its_traffic_and_stops_when_revoked(ui_gateway, page):
    sign_in(page, ui_gateway, ADMIN_KEY)
    view(page, "keys")
    page.click("button:has-text('New key')")
    dialog = page.locator("dialog[open]")
    dialog.locator("input[name=name]").fill("ui-team")
    dialog.locator("input[name=budget]").fill("5")
    dialog.locator("select[name=budget_period]").select_option("monthly")
    dialog.locator("input[name=tpm]").fill("50000")
    dialog.locator("input[name=models]").fill("chat-default, qwen-plus")
    dialog.locator("button[type=submit]").click()
    secret_box = page.locator("dialog[open] input.secret")
    expect(secret_box).to_be_visible()
    secret = secret_box.input_value()
    assert secret.startswith("rg-") and len(secret) == 43
    shoot(page, "key-created")
    page.click("dialog[open] button:has-text('Done')")
    row = page.locator("tr[data-key=ui-team]")
    expect(row).to_contain_text(secret[:8])
    expect(row).to_contain_text("50k tpm")
    expect(row.locator(".badge")).to_have_text("active")
    expect(row).to_contain_text("$0 / $5.00")

    client = ui_gateway.client(key=secret)
    whole = eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))
    chunks = list(client.chat.completions.create(
        model="chat-default", messages=[USER], stream=True, stream_options={"include_usage": True}))
    streamed = chunks[-1].usage
    answers = [streamed, whole.usage]  # the log is newest first

    view(page, "requests")
    page.fill("form.filters input[name=key]", "ui-team")
    rows = page.locator("tr.request")
    expect_rows(page, rows, 2)
    for shown, usage in zip(rows.all(), answers, strict=True):
        expect(shown).to_contain_text("ui-team")
        expect(shown).to_contain_text("chat-default")
        expect(shown).to_contain_text("alibaba")
        expect(shown.locator("td.tokens")).to_have_text(f"{usage.prompt_tokens:,} → {usage.completion_tokens:,}")
    expect(rows.nth(0).locator(".tag")).to_have_text("stream")
    expect(rows.nth(1).locator(".tag")).to_have_count(0)
    rows.nth(0).click()
    attempt = page.locator("tr.detail tr.attempt")
    expect(attempt).to_have_count(1)
    expect(attempt).to_contain_text("alibaba")
    expect(attempt).to_contain_text("qwen-plus")
    expect(attempt.locator(".badge")).to_have_text("200")
    shoot(page, "requests")

    view(page, "usage")
    page.fill("form.filters input[name=key]", "ui-team")
    page.click("form.filters button[type=submit]")
    today = datetime.now(UTC).date().isoformat()
    tokens = sum(u.prompt_tokens + u.completion_tokens for u in answers)
    point = page.locator(f"circle.point[data-series=chat-default][data-label='{today}']")
    expect(point).to_have_attribute("data-value", str(tokens))
    expect(point.locator("title")).to_have_text(f"{today} · chat-default: {tokens:,}")
    bar = page.locator(f"rect.bar[data-series=chat-default][data-label='{today}']")
    expect(bar).to_have_count(1)
    cost = sum(float(u.model_extra["cost"]) for u in answers)
    assert cost > 0
    assert math.isclose(float(bar.get_attribute("data-value")), cost, rel_tol=1e-6)
    breakdown = page.locator("table.breakdown tr[data-series=chat-default] td")
    expect(breakdown.nth(1)).to_have_text("2")
    expect(page.locator(".tile", has_text="Requests").locator("strong")).to_have_text("2")
    shoot(page, "usage")

    view(page, "providers")
    deployment = page.locator("tr[data-provider=alibaba][data-model=qwen-plus]")
    expect(deployment.locator(".badge")).to_have_text("closed")
    assert int(deployment.locator("td").nth(3).inner_text()) >= 2
    shoot(page, "providers")

    view(page, "keys")
    row = page.locator("tr[data-key=ui-team]")
    row.locator("button:has-text('Disable')").click()
    expect(row.locator(".badge")).to_have_text("disabled")
    eventually(refused_with(client, openai.AuthenticationError))
    row.locator("button:has-text('Enable')").click()
    expect(row.locator(".badge")).to_have_text("active")
    eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))

    row.locator("button:has-text('Rotate')").click()
    page.click("dialog[open] button:has-text('Rotate')")
    secret_box = page.locator("dialog[open] input.secret")
    expect(secret_box).to_be_visible()
    rotated = secret_box.input_value()
    assert rotated.startswith("rg-") and rotated != secret
    page.click("dialog[open] button:has-text('Done')")
    expect(row).to_contain_text(rotated[:8])
    eventually(refused_with(client, openai.AuthenticationError))
    client = ui_gateway.client(key=rotated)
    eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))

    row.locator("button:has-text('Edit')").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.locator("input[name=tpm]")).to_have_value("50000")
    dialog.locator("input[name=tpm]").fill("1")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("tr[data-key=ui-team]")).to_contain_text("1 tpm")
    eventually(refused_with(client, openai.RateLimitError))  # this minute's tokens are far over one
    shoot(page, "keys")

    page.click("tr[data-key=ui-team] button:has-text('Revoke')")
    page.click("dialog[open] button:has-text('Revoke key')")
    expect(page.locator("tr[data-key=ui-team]")).to_have_count(0)
    page.check("label.check input")
    expect(page.locator("tr[data-key=ui-team] .badge")).to_have_text("revoked")
    eventually(refused_with(client, openai.AuthenticationError))


def expect_rows(page: Page, rows, count: int) -> None:
    """Usage records reach the database in batches: apply the filter until the rows are there."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        page.click("form.filters button[type=submit]")
        try:
            expect(rows).to_have_count(count, timeout=300)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
