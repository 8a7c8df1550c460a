"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# USD to 1e-10 (metering/money.py): a token at $0.0375 per 1M costs 3.75e-8, exact at this scale
from relaygate.metering.money import MONEY_QUANTUM, MONEY_SCALE


def money_ddl() -> TypeEngine[Any]:
    """NUMERIC on PostgreSQL. SQLite has no exact decimal type (NUMERIC columns hold REAL), so
    there an amount is an integer count of 1e-10 USD: sums and `cost + :delta` stay exact."""
    return Numeric(28, MONEY_SCALE).with_variant(BigInteger(), "sqlite")


class Money(TypeDecorator[Decimal]):
    """USD as Decimal in Python; exact in both databases (see `money_ddl`)."""

    impl = Numeric(28, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(28, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = Decimal(value).quantize(MONEY_QUANTUM)
        return int(amount.scaleb(MONEY_SCALE)) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)).scaleb(-MONEY_SCALE)).quantize(MONEY_QUANTUM)
        return Decimal(value).quantize(MONEY_QUANTUM)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out. SQLite keeps no zone, so values are stored as naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC one is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
