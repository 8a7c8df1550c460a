"""The control API under `/_emulator/`: scripted rules, recorded requests, health.

    GET    /_emulator/health     -> {"status": "ok"}
    POST   /_emulator/script     a rule or a list of rules, appended -> {"added", "rules"}; 400 on a bad rule
    GET    /_emulator/script     the rules still queued
    DELETE /_emulator/script     clears the rules
    GET    /_emulator/requests   recorded chat requests, oldest first:
                                 [{"path", "method", "headers", "body", "raw", "disconnected"}]
    DELETE /_emulator/requests   clears the records
    POST   /_emulator/reset      clears rules and records
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .script import RuleError, parse_rule
from .state import EmulatorState

PREFIX = "/_emulator"


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


class ControlApi:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/health", self.health),
            web.post(f"{PREFIX}/script", self.add_rules),
            web.get(f"{PREFIX}/script", self.list_rules),
            web.delete(f"{PREFIX}/script", self.clear_rules),
            web.get(f"{PREFIX}/requests", self.list_requests),
            web.delete(f"{PREFIX}/requests", self.clear_requests),
            web.post(f"{PREFIX}/reset", self.reset),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def add_rules(self, request: web.Request) -> web.Response:
        """Appends a rule, or a list of rules, to the queue."""
        try:
            data = orjson.loads(await request.read())
            rules = [parse_rule(item) for item in (data if isinstance(data, list) else [data])]
        except (orjson.JSONDecodeError, RuleError) as exc:
            return json_response({"error": str(exc)}, status=400)
        self.state.script.extend(rules)
        return json_response({"added": len(rules), "rules": self.state.script.describe()})

    async def list_rules(self, request: web.Request) -> web.Response:
        return json_response(self.state.script.describe())

    async def clear_rules(self, request: web.Request) -> web.Response:
        self.state.script.clear()
        return json_response({"cleared": True})

    async def list_requests(self, request: web.Request) -> web.Response:
        recorder = self.state.recorder
        return json_response(recorder.all() if recorder is not None else [])

    async def clear_requests(self, request: web.Request) -> web.Response:
        if self.state.recorder is not None:
            self.state.recorder.clear()
        return json_response({"cleared": True})

    async def reset(self, request: web.Request) -> web.Response:
        """Clears both the rules and the recorded requests."""
        self.state.script.clear()
        return await self.clear_requests(request)
