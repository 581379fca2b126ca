"""Billing calendar (SPEC M7): periods anchored to the original day, all in UTC.

Period k of a subscription starts at `anchor + k cycles`, always computed from the anchor,
never chained from the previous period, so a 31st anchor gives Jan 31 -> Feb 28/29 -> Mar 31.
Annual periods on Feb 29 fall on Feb 28 in common years. python-dateutil's relativedelta
does the month-end clamp.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from dateutil.relativedelta import relativedelta


class Cycle(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return 1 if self is Cycle.MONTHLY else 12


def require_utc(moment: datetime) -> datetime:
    """Refuse naive or non-UTC datetimes: the whole service reasons in UTC."""
    if moment.tzinfo is None or moment.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"expected a timezone-aware UTC datetime, got {moment!r}")
    return moment


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` moved by whole months, the day clamped to the target month's end."""
    return require_utc(anchor) + relativedelta(months=months)


def add_years(anchor: datetime, years: int) -> datetime:
    """`anchor` moved by whole years; Feb 29 becomes Feb 28 in a common year."""
    return require_utc(anchor) + relativedelta(years=years)


def period_start(anchor: datetime, cycle: Cycle, index: int) -> datetime:
    """Start of period `index` (0 = the period that starts at the anchor)."""
    return add_months(anchor, index * cycle.months)


def period_index(anchor: datetime, cycle: Cycle, at: datetime) -> int:
    """Index of the period that contains `at` (negative before the anchor)."""
    require_utc(at)
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    index = months // cycle.months
    # The month estimate can be off by one in either direction around the clamped day.
    while period_start(anchor, cycle, index) > at:
        index -= 1
    while period_start(anchor, cycle, index + 1) <= at:
        index += 1
    return index


def period_containing(anchor: datetime, cycle: Cycle, at: datetime) -> tuple[datetime, datetime]:
    """The half-open period [start, end) of this anchor and cycle that contains `at`."""
    index = period_index(anchor, cycle, at)
    return period_start(anchor, cycle, index), period_start(anchor, cycle, index + 1)
