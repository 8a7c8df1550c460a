"""Redis, where several instances share limits: the client for the configured `redis` URL, and the
Lua scripts that run there (the `.lua` files in lua/ beside this module)."""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

TIMEOUT = 1.0  # seconds for a connection or an answer; beyond it the gateway serves on local limits
CONNECTIONS = 64  # at most; a call waits for a free one (a sub-millisecond wait at this size)

ERRORS = (RedisError, OSError, TimeoutError)  # what a call to an unreachable Redis can raise


def connect(url: str) -> Redis:
    """A pooled client that fails fast and never retries by itself: a failed call falls back to local
    limits at once and the gateway's watcher decides when Redis is back. The pool is bounded and
    blocking: with more requests in flight than connections, a call waits for one instead of failing."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=CONNECTIONS, timeout=TIMEOUT, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 0), client_name="relaygate",
    )
    return Redis.from_pool(pool)


def script_text(name: str) -> str:
    return (resources.files("relaygate.store") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def redacted(url: str) -> str:
    """The URL for logs: its password (and user) replaced, so a log line never carries a secret."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"***@{host}"))
