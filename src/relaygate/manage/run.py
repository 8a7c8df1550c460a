"""Runs one command against the configured database: migrate, open an engine, act, print."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.config import Config
from relaygate.governance.key_settings import InvalidKeySettings
from relaygate.governance.keystore import KeyStoreError
from relaygate.store.db import create_engine
from relaygate.store.migrate import migrate

Action = Callable[[AsyncEngine], Awaitable[str]]


async def _act(config: Config, action: Action) -> str:
    if config.database is None:
        raise click.ClickException("this configuration has no database (database: null)")
    await migrate(config.database)
    engine = create_engine(config.database)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


def run(config: Config, action: Action) -> None:
    """Print the action's output; a refused request is a clear message and exit status 1."""
    try:
        output = asyncio.run(_act(config, action))
    except (KeyStoreError, InvalidKeySettings, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the database cannot be reached
        raise click.ClickException(f"database {config.database}: {exc}") from None
    click.echo(output)


def usd(amount: Decimal) -> str:
    """10.0000000000 → 10, 0.0001230000 → 0.000123: every digit that counts, no exponent."""
    return format(amount.normalize(), "f") if amount else "0"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [headers, *rows]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
