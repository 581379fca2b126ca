"""Proration (SPEC M6): the unused fraction of a period, exact, and the amount it is worth."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

from kasacare.kit.calendar import require_utc
from kasacare.kit.money import Money

_MICROSECOND = timedelta(microseconds=1)


def unused_fraction(period_start: datetime, period_end: datetime, at: datetime) -> Fraction:
    """(period_end - at) / (period_end - period_start), exact, clamped to [0, 1].

    Measured in elapsed time (seconds, kept exact to the microsecond), so the fraction of
    a 30-day April period 10 days in is exactly 20/30.
    """
    for moment in (period_start, period_end, at):
        require_utc(moment)
    if period_end <= period_start:
        raise ValueError("a period must end after it starts")
    at = min(max(at, period_start), period_end)
    return Fraction((period_end - at) // _MICROSECOND, (period_end - period_start) // _MICROSECOND)


def prorate(price: Money, period_start: datetime, period_end: datetime, at: datetime) -> Money:
    """The unused part of `price` for the period at `at`, rounded half-even once."""
    return price.times(unused_fraction(period_start, period_end, at))
