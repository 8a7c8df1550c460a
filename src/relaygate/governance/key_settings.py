"""What a key may be configured with, checked and normalised once for the CLI, the admin API and
the store alike. Every setting is optional; `None` means "no limit" (or "every model")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

BUDGET_PERIODS = ("daily", "monthly")
MOST = 2**63 - 1  # the largest limit (RPM, TPM, concurrency): what the databases' 64-bit column holds


class InvalidKeySettings(ValueError):
    """A setting has a value it cannot take; the message names the setting."""


def _budget(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value)) if isinstance(value, (int, float, str)) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidKeySettings(f"budget: {value!r} is not an amount in USD") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidKeySettings(f"budget: {value!r} must be a non-negative amount in USD")
    return amount


def _period(value: Any) -> str:
    if value not in BUDGET_PERIODS:
        raise InvalidKeySettings(f"budget_period: {value!r} must be one of {', '.join(BUDGET_PERIODS)}")
    return value


def _positive(name: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MOST:
            raise InvalidKeySettings(f"{name}: {value!r} must be a whole number from 1 to {MOST}")
        return value

    return check


def _models(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidKeySettings("models: give a list of model ids")
    models = sorted({m.strip() for m in value if isinstance(m, str) and m.strip()})
    if not models or len(models) != len(value):
        raise InvalidKeySettings("models: every entry must be a non-empty model id, and at least one is needed")
    return models


def parse_when(value: Any) -> datetime:
    """An aware UTC datetime from ISO-8601 text or a datetime; a time without zone is taken as UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidKeySettings(f"expires_at: {value!r} is not an ISO-8601 date or time") from None
    if not isinstance(value, datetime):
        raise InvalidKeySettings(f"expires_at: {value!r} is not a date and time")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidKeySettings("metadata: must be an object")
    return dict(value)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "metadata": _metadata,
    "models": _models,
    "budget": _budget,
    "budget_period": _period,
    "rpm": _positive("rpm"),
    "tpm": _positive("tpm"),
    "max_concurrency": _positive("max_concurrency"),
    "expires_at": parse_when,
}
SETTINGS = tuple(_CHECKS)


def validated(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings given, normalised; `None` clears a setting (metadata becomes empty)."""
    unknown = set(settings) - set(_CHECKS)
    if unknown:
        raise InvalidKeySettings(f"unknown key settings: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name, value in settings.items():
        if value is None:
            out[name] = {} if name == "metadata" else None
        else:
            out[name] = _CHECKS[name](value)
    return out
