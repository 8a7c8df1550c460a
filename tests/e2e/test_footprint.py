"""What a gateway loads: one with no database has no SQL layer in its memory (SQLAlchemy and
Alembic are some 18 MB of a ~57 MB process), Redis or not, while one with a database has it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._redis import RedisServer
from tests.e2e.conftest import Emulator, Gateway, one_upstream_config, start_gateway


def mapped(gateway: Gateway) -> str:
    """The files mapped into the gateway process: its shared libraries, extension modules included."""
    assert gateway.proc is not None
    return Path(f"/proc/{gateway.proc.pid}/maps").read_text()


@pytest.fixture(params=["no database", "no database, Redis", "SQLite"])
def storing(request: pytest.FixtureRequest, emulator: Emulator, redis_server: RedisServer,
            tmp_path: Path) -> Iterator[tuple[str, Gateway]]:
    database = f"sqlite:///{tmp_path / 'relaygate.db'}" if request.param == "SQLite" else "null"
    extra = f"redis: {redis_server.url}\n" if "Redis" in request.param else ""
    config = one_upstream_config(emulator.base, "chat", "chat-a", extra=extra, database=database)
    with start_gateway(config, tmp_path) as gateway:
        yield request.param, gateway


def test_a_gateway_without_a_database_loads_no_sql_layer(storing: tuple[str, Gateway]) -> None:
    kind, gateway = storing
    answer = gateway.client().chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    if "Redis" in kind:  # the limits are shared through it: its client and scripts are loaded
        assert "relaygate_redis_up 1" in httpx.get(gateway.base + "/metrics").text
    # SQLAlchemy's compiled parts are mapped once it is imported (the gateway with a database shows it)
    assert ("/sqlalchemy/" in mapped(gateway)) == (kind == "SQLite")
