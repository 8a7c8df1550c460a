"""Persistence: the SQL schema, engines for SQLite and PostgreSQL, and migrations applied at start."""

from relaygate.store.db import async_url, create_engine
from relaygate.store.migrate import migrate, migrate_engine

__all__ = ["async_url", "create_engine", "migrate", "migrate_engine"]
