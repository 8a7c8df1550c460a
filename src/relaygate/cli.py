"""Command line: serve, demo, check (keys and usage arrive with the governance store)."""

from __future__ import annotations

import logging
import os
import sys
from importlib import resources
from pathlib import Path

import click

from relaygate.app import CONFIG_ENV
from relaygate.config import load_config
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
@click.option("--log-level", default="info", show_default=True)
def serve(config_path: str, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the gateway."""
    _check_or_exit(config_path)
    _run(config_path, host, port, workers, log_level)


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
        + f")\n  demo client key: {key}\n  try:\n"
        f"  curl {base}/chat/completions -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        "-d '{\"model\": \"demo\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'\n"
    )
    _run(config_path, host, port, 1, "info")


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
def check(config_path: str) -> None:
    """Validate a configuration; exits non-zero with the reason when it cannot be served."""
    config, skipped = _check_or_exit(config_path)
    note = f" ({', '.join(skipped)} off: no key)" if skipped else ""
    click.echo(f"{config_path}: ok, {len(config.providers)} providers, {len(config.models)} catalog models{note}")


def _check_or_exit(config_path: str):
    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _run(config_path: str, host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    os.environ[CONFIG_ENV] = str(Path(config_path).resolve())
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "relaygate.app:create_app", factory=True, host=host, port=port, workers=workers,
        loop="uvloop", http="httptools", lifespan="on", access_log=False, log_level=log_level,
        proxy_headers=False, server_header=False,
        timeout_graceful_shutdown=30,
    )
