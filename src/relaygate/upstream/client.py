"""Pooled async HTTP client for upstream calls; transport errors become GatewayErrors here only."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import aiohttp

from relaygate.config import Timeout
from relaygate.errors import UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable


class UpstreamClient:
    """One connection pool for all upstreams (keep-alive, no per-host cap, cached DNS)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector, skip_auto_headers=("User-Agent",), raise_for_status=False
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session itself, for the gateway's own fetches (upstream/fetch.py)."""
        assert self._session is not None, "UpstreamClient.open() was not awaited"
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self, provider: str, url: str, headers: dict[str, str], body: bytes, timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        assert self._session is not None, "UpstreamClient.open() was not awaited"
        with transport_errors(provider):
            return await self._session.post(url, data=body, headers=headers, timeout=timeout)


def whole_answer_timeout(t: Timeout) -> aiohttp.ClientTimeout:
    return _client_timeout(t.total, t.connect)


def streaming_timeout(t: Timeout) -> aiohttp.ClientTimeout:
    """First-token, idle and total limits of a stream are kept by the relay's own timer."""
    return _client_timeout(None, t.connect)


@lru_cache(maxsize=256)
def _client_timeout(total: float | None, connect: float) -> aiohttp.ClientTimeout:
    """ClientTimeout is an immutable value: made once per configured pair, not per request."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect)


@contextmanager
def transport_errors(provider: str, timeout_message: str | None = None) -> Iterator[None]:
    """Map aiohttp and asyncio failures to the gateway's errors, naming the provider, never a key."""
    try:
        yield
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise UpstreamTimeout(timeout_message or f"Provider '{provider}' did not answer in time.") from None
    except aiohttp.ClientPayloadError:
        raise UpstreamProtocolError(f"Provider '{provider}' broke off its answer.") from None
    except aiohttp.ServerDisconnectedError:
        raise UpstreamUnavailable(f"Provider '{provider}' closed the connection.") from None
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamUnavailable(f"Cannot connect to provider '{provider}': {exc.os_error.strerror or 'refused'}.") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnavailable(f"Provider '{provider}' failed: {type(exc).__name__}.") from None
