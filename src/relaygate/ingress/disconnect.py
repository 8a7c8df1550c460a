"""Cancelling the work for a request whose client hung up."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from relaygate.ingress.http import Receive

log = logging.getLogger("relaygate.chat")


class cancel_on_disconnect:
    """While the body runs, a client that hangs up cancels it (and so the upstream call).

    ASGI servers report the hang-up as `http.disconnect` on `receive`; the request body has already
    been read, so nothing else is waiting on it. Watching costs a task, which is a sizeable share of
    a fast request's CPU, so the watch starts only once the request has run for WATCH_AFTER seconds:
    quick answers never pay for it, and a client leaving a long one is noticed at most that late."""

    WATCH_AFTER = 0.2
    __slots__ = ("receive", "task", "timer", "watcher", "client_left", "response_sent")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.client_left = False
        self.response_sent = False  # after the last byte went out, `receive` reports a disconnect too
        self.watcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> cancel_on_disconnect:
        self.task = asyncio.current_task()
        self.timer = asyncio.get_running_loop().call_later(self.WATCH_AFTER, self._start_watching)
        return self

    def _start_watching(self) -> None:
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        if not self.response_sent:
            self.client_left = True
            self.task.cancel()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.timer.cancel()
        if self.watcher is not None:
            self.watcher.cancel()
        if exc_type is asyncio.CancelledError and self.client_left:
            self.task.uncancel()
            log.info("client disconnected; upstream call cancelled")
            return True
        return False
