"""Builds the emulator's aiohttp application and starts it, standalone or inside another loop."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from .chat import ChatEndpoint, ModelsEndpoint
from .control import ControlApi
from .flavours import FLAVOURS
from . import anthropic
from . import gemini
from .recording import Recorder
from .state import DEFAULT_CHUNKS, EmulatorState

STATE_KEY = web.AppKey("emulator_state", EmulatorState)


def build_app(
    keys: Iterable[str] = (), record: bool = True, default_chunks: int = DEFAULT_CHUNKS, burst: bool = True
) -> web.Application:
    """The application: every flavour under its prefixes, plus the control API.

    `burst=False` writes every stream event separately even when no rule paces the stream.
    """
    recorder = Recorder() if record else None
    state = EmulatorState(frozenset(keys), recorder, default_chunks=default_chunks, burst=burst)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state
    for flavour in FLAVOURS:
        chat, models = ChatEndpoint(flavour, state), ModelsEndpoint(flavour, state)
        for prefix in flavour.prefixes:
            app.router.add_post(f"{prefix}/chat/completions", chat.handle)
            app.router.add_get(f"{prefix}/models", models.handle)
    anthropic.add_routes(app, state)
    gemini.add_routes(app, state)
    app.router.add_routes(ControlApi(state).routes())
    return app


async def start_emulator(
    host: str = "127.0.0.1", port: int = 0, keys: Iterable[str] = (), record: bool = True, burst: bool = True
) -> tuple[web.AppRunner, int]:
    """Starts the emulator in the running event loop; returns the runner (to `cleanup()`) and the port."""
    runner = web.AppRunner(build_app(keys, record, burst=burst), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, bound_port(runner)


def bound_port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])
