"""Fixtures shared by the store, metering and governance tests: one database per test, on SQLite
and on a throwaway PostgreSQL cluster started once per session; a throwaway Redis server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from _databases import PostgresCluster
from _redis import RedisServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.init()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, not yet migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'relaygate.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return asyncio.run(cluster.create_database())


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests keep apart by key name or flush it."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.destroy()
