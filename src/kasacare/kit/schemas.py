"""Shared API shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from kasacare.kit.money import Money


class MoneyRead(BaseModel):
    amount: int
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

    @classmethod
    def of(cls, money: Money) -> MoneyRead:
        return cls(amount=money.amount, currency=money.currency)


#: The instants the API takes: far outside them is a mistake or an attack (a year-1 time in
#: a +01:00 zone overflowed into a 500).
FIRST_YEAR, LAST_YEAR = 1970, 2099


def utc_instant(value: datetime) -> datetime:
    """An aware instant between 1970 and 2100, in UTC; ValueError (a 422) otherwise."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry its time zone, e.g. 2026-12-06T10:00:00Z or +01:00")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:  # before converting: year 1 overflows
        raise ValueError(f"must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return value.astimezone(UTC)


#: A datetime parameter or field: aware, bounded, answered in UTC (issue 13, hardening).
Instant = Annotated[datetime, AfterValidator(utc_instant)]
