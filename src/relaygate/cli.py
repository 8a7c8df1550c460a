"""Command line: serve, demo, check, keys and usage; parsing only, the work is done elsewhere."""

from __future__ import annotations

import faulthandler
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import click

from relaygate.config import Config, load_config
from relaygate.errors import ConfigError

DEMO_KEY = "rg-demo-key-0000"


@click.group()
def main() -> None:
    """relaygate: one OpenAI-compatible endpoint in front of many LLM providers."""


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), help="YAML configuration.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              help="Overrides the configuration's logging.level.")
def serve(config_path: str, host: str, port: int, workers: int, log_level: str | None) -> None:
    """Serve the gateway."""
    config, _ = _check_or_exit(config_path)
    _run(config, config_path, host, port, workers, log_level)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def demo(host: str, port: int) -> None:
    """Serve the bundled demo configuration (a local `demo` model, plus every provider whose key is set)."""
    config_path = str(resources.files("relaygate") / "demo" / "relaygate.yaml")
    config, skipped = _check_or_exit(config_path)
    key = os.environ.get("RELAYGATE_DEMO_KEY", DEMO_KEY)
    enabled = ", ".join(config.providers)
    base = f"http://{host}:{port}/v1"
    click.echo(
        f"relaygate demo on {base}  (providers: {enabled}"
        + (f"; off for want of a key: {', '.join(skipped)}" if skipped else "")
        + f")\n  demo client key: {key}\n  dashboard: http://{host}:{port}/ui\n  try:\n"
        f"  curl {base}/chat/completions -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        "-d '{\"model\": \"demo\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'\n"
    )
    _run(config, config_path, host, port, 1, None)


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
def check(config_path: str) -> None:
    """Validate a configuration; exits non-zero with the reason when it cannot be served."""
    config, skipped = _check_or_exit(config_path)
    note = f" ({', '.join(skipped)} off: no key)" if skipped else ""
    click.echo(f"{config_path}: ok, {len(config.providers)} providers, {len(config.models)} catalog models{note}")


_CONFIG = click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
_KEY_FLAGS = [
    click.option("--budget", help="USD per period (or in total without one); `none` clears."),
    click.option("--budget-period", type=click.Choice(["daily", "monthly", "none"])),
    click.option("--rpm", help="Requests per minute."),
    click.option("--tpm", help="Tokens per minute."),
    click.option("--max-concurrency", help="Requests in flight at once."),
    click.option("--models", help="Allowed models, comma-separated (default: every model)."),
    click.option("--expires", "expires_at", help="ISO-8601 time after which the key stops working."),
    click.option("--metadata", help="Owner metadata as a JSON object."),
]


def _key_flags(command):
    for option in reversed(_KEY_FLAGS):
        command = option(command)
    return command


@main.group()
def keys() -> None:
    """Client keys in the configured database (no gateway needs to run)."""


@keys.command("create")
@_CONFIG
@click.option("--name", required=True)
@_key_flags
def keys_create(config_path: str, name: str, **flags: str | None) -> None:
    """Create a key; the key itself is printed once, on the last line."""
    from relaygate.manage import keys as manage, run

    config, _ = _check_or_exit(config_path)
    run.run(config, lambda engine: manage.create(engine, name, manage.settings_from_flags(flags)))


@keys.command("list")
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def keys_list(config_path: str, as_json: bool) -> None:
    """List keys (never their secrets)."""
    from relaygate.manage import keys as manage, run

    config, _ = _check_or_exit(config_path)
    run.run(config, lambda engine: manage.list_keys(engine, as_json))


@keys.command("update")
@click.argument("name")
@_CONFIG
@_key_flags
@click.option("--disable/--enable", "disabled", default=None, help="Stop or resume the key without revoking it.")
def keys_update(config_path: str, name: str, disabled: bool | None, **flags: str | None) -> None:
    """Change a key's settings; those not given keep their values."""
    from relaygate.manage import keys as manage, run

    config, _ = _check_or_exit(config_path)
    run.run(config, lambda engine: manage.update(engine, name, manage.settings_from_flags(flags), disabled))


@keys.command("revoke")
@click.argument("name")
@_CONFIG
def keys_revoke(config_path: str, name: str) -> None:
    """Revoke a key for good."""
    from relaygate.manage import keys as manage, run

    config, _ = _check_or_exit(config_path)
    run.run(config, lambda engine: manage.revoke(engine, name))


@keys.command("rotate")
@click.argument("name")
@_CONFIG
def keys_rotate(config_path: str, name: str) -> None:
    """Give a key a new secret, printed on the last line; the old one stops working."""
    from relaygate.manage import keys as manage, run

    config, _ = _check_or_exit(config_path)
    run.run(config, lambda engine: manage.rotate(engine, name))


@main.command()
@_CONFIG
@click.option("--key", help="Only this key.")
@click.option("--model", help="Only this model.")
@click.option("--since", help="First UTC day (YYYY-MM-DD), inclusive.")
@click.option("--until", help="Last UTC day (YYYY-MM-DD), inclusive.")
@click.option("--group-by", type=click.Choice(["key", "model", "day"]), help="Default: day, key and model.")
@click.option("--json", "as_json", is_flag=True, help="JSON rows as GET /admin/usage answers.")
def usage(config_path: str, as_json: bool, **filters: str | None) -> None:
    """Usage and spend from the configured database."""
    from relaygate.manage import run, usage as manage

    config, _ = _check_or_exit(config_path)
    run.run(config, lambda engine: manage.usage(engine, config.usage_journal, filters, as_json))


def _check_or_exit(config_path: str):
    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _run(config: Config, config_path: str, host: str, port: int, workers: int, log_level: str | None) -> None:
    import uvicorn

    # imported here: the key and usage commands need no server
    from relaygate.app import CONFIG_ENV, LOG_LEVEL_ENV
    from relaygate.observability.logs import configure_logging, configured_secrets

    os.environ[CONFIG_ENV] = str(Path(config_path).resolve())
    if log_level:
        os.environ[LOG_LEVEL_ENV] = log_level  # for the workers, which configure their own logging
    configure_logging(config.logging, configured_secrets(config), log_level)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: every thread's stack to stderr
    with _shared_by_workers(config, workers):
        # On SIGTERM uvicorn stops listening, lets requests and streams in flight finish (up to
        # shutdown_timeout), then runs the lifespan shutdown: the usage journal is written out.
        uvicorn.run(
            "relaygate.app:create_app", factory=True, host=host, port=port, workers=workers,
            loop="uvloop", http="httptools", lifespan="on", access_log=False, log_config=None, log_level=None,
            proxy_headers=False, server_header=False,
            timeout_graceful_shutdown=config.server.shutdown_timeout,
        )


@contextmanager
def _shared_by_workers(config: Config, workers: int) -> Iterator[None]:
    """What the workers of `serve --workers N` share, for as long as they serve: a private
    redis-server for their limits and budgets when the configuration names no Redis and something
    needs sharing (store/private_redis.py), and a directory for their metrics
    (observability/workers.py). Each worker learns of them from the environment (app.create_app).
    One process shares nothing."""
    if workers <= 1:
        yield
        return
    from relaygate.app import WORKERS_REDIS_ENV
    from relaygate.observability.workers import WORKERS_METRICS_ENV
    from relaygate.store.private_redis import PrivateRedis, needs_sharing

    private = None
    if needs_sharing(config, workers):
        try:
            private = PrivateRedis.start(workers)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        os.environ[WORKERS_REDIS_ENV] = private.url
        logging.getLogger("relaygate").info(
            "the %d workers share rate limits and budgets through a private redis-server (pid %d, %s)",
            workers, private.proc.pid, private.socket)
    metrics_folder = tempfile.mkdtemp(prefix="relaygate-metrics-")
    os.environ[WORKERS_METRICS_ENV] = metrics_folder
    try:
        yield
    finally:
        if private is not None:
            private.stop()
        shutil.rmtree(metrics_folder, ignore_errors=True)


def _exit_cleanly(signum: int, frame: object) -> None:
    """SIGTERM outside uvicorn's own handling: before it starts, or re-raised by it after a
    graceful stop (uvicorn >= 0.29 re-raises the signal it caught). Either way, exit 0."""
    sys.exit(0)
