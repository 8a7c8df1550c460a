"""Keys made with `relaygate keys` work in the running gateway, and changes reach it within a second."""

from __future__ import annotations

import time

import openai
import pytest

USER = {"role": "user", "content": "Hello"}


@pytest.fixture
def gateway(governed_gateway):
    """These tests run on SQLite and on PostgreSQL: a gateway on a fresh database of each kind."""
    return governed_gateway


def new_key(gateway, *args: str) -> str:
    done = gateway.cli("keys", "create", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def eventually(check, seconds: float = 2.0) -> None:
    """The gateway refreshes its keys twice a second: a change shows within one second."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
            return
        except (AssertionError, openai.APIStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_created_key_works_and_a_revoked_one_stops_within_a_second(gateway):
    secret = new_key(gateway, "--name", "team-a")
    client = gateway.client(key=secret)
    eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))
    assert gateway.cli("keys", "revoke", "team-a").returncode == 0
    revoked_at = time.monotonic()

    def refused() -> None:
        try:
            client.chat.completions.create(model="chat-default", messages=[USER])
        except openai.AuthenticationError:
            return
        raise AssertionError("the revoked key still works")
    eventually(refused)
    assert time.monotonic() - revoked_at < 1.5


def test_rotation_replaces_the_secret(gateway):
    old = new_key(gateway, "--name", "team-b")
    eventually(lambda: gateway.client(key=old).models.list())
    rotated = gateway.cli("keys", "rotate", "team-b")
    new = rotated.stdout.strip().splitlines()[-1]
    eventually(lambda: gateway.client(key=new).models.list())
    with pytest.raises(openai.AuthenticationError):
        gateway.client(key=old).models.list()


def test_database_keys_carry_their_models_and_limits(gateway):
    secret = new_key(gateway, "--name", "team-c", "--models", "chat-default", "--rpm", "2")
    client = gateway.client(key=secret)
    eventually(lambda: client.chat.completions.create(model="chat-default", messages=[USER]))
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="deepseek/deepseek-chat", messages=[USER])
    with pytest.raises(openai.RateLimitError):
        for _ in range(3):
            client.chat.completions.create(model="chat-default", messages=[USER])


def test_secrets_are_not_in_the_gateway_log(gateway):
    secret = new_key(gateway, "--name", "team-d")
    eventually(lambda: gateway.client(key=secret).models.list())
    assert secret not in gateway.log()


def test_without_a_database_the_gateway_serves_configured_keys_and_the_cli_says_why_not(emulator, tmp_path):
    from tests.e2e.conftest import CLIENT_KEY, start_gateway

    config = f"""
database: null
providers:
  up: {{type: openai, base_url: "{emulator.base}/openai/v1", api_key: sk-up-openai-secret-1}}
keys:
  - {{key: {CLIENT_KEY}, name: only}}
"""
    with start_gateway(config, tmp_path) as gateway:
        answer = gateway.client().chat.completions.create(model="up/gpt-4o-mini", messages=[USER])
        assert answer.choices[0].message.content
        refused = gateway.cli("keys", "list")
        assert refused.returncode != 0 and "no database" in refused.stderr
    assert not list(tmp_path.glob("*.db")) and not list(tmp_path.glob("*.jsonl"))
