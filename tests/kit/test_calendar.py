"""Billing calendar (SPEC M7): anchored periods with the month-end clamp, UTC only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasacare.kit.calendar import (
    Cycle,
    add_months,
    add_years,
    period_containing,
    period_index,
    period_start,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


anchors = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive)
    max_value=datetime(2090, 12, 31),  # noqa: DTZ001 (hypothesis bounds are naive)
    timezones=st.just(UTC),
)


def test_m7_monthly_clamps_to_month_end_and_returns_to_anchor_day() -> None:
    anchor = utc(2027, 1, 31, 9, 30)
    starts = [period_start(anchor, Cycle.MONTHLY, k) for k in range(4)]
    assert starts == [
        utc(2027, 1, 31, 9, 30),
        utc(2027, 2, 28, 9, 30),
        utc(2027, 3, 31, 9, 30),
        utc(2027, 4, 30, 9, 30),
    ]
    assert period_start(utc(2028, 1, 31), Cycle.MONTHLY, 1) == utc(2028, 2, 29)  # leap year


def test_m7_annual_on_feb_29_falls_on_feb_28() -> None:
    anchor = utc(2024, 2, 29, 10)
    assert period_start(anchor, Cycle.ANNUAL, 1) == utc(2025, 2, 28, 10)
    assert period_start(anchor, Cycle.ANNUAL, 4) == utc(2028, 2, 29, 10)
    assert add_years(anchor, 1) == utc(2025, 2, 28, 10)  # the F2 example


def test_m7_period_containing_is_half_open() -> None:
    anchor = utc(2026, 4, 1)
    assert period_containing(anchor, Cycle.MONTHLY, utc(2026, 4, 30, 23, 59)) == (
        utc(2026, 4, 1),
        utc(2026, 5, 1),
    )
    assert period_containing(anchor, Cycle.MONTHLY, utc(2026, 5, 1)) == (
        utc(2026, 5, 1),
        utc(2026, 6, 1),
    )
    assert period_index(anchor, Cycle.MONTHLY, utc(2026, 3, 31)) == -1


def test_m7_refuses_naive_and_non_utc_times() -> None:
    with pytest.raises(ValueError, match="UTC"):
        add_months(datetime(2026, 1, 1), 1)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="UTC"):
        add_months(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))), 1)


@given(anchors)
def test_m7_twelve_monthly_periods_end_exactly_one_annual_period_later(anchor: datetime) -> None:
    assert period_start(anchor, Cycle.MONTHLY, 12) == period_start(anchor, Cycle.ANNUAL, 1)


@given(anchors, st.integers(0, 240))
def test_m7_periods_follow_the_anchor_day_not_the_previous_period(anchor: datetime, k: int) -> None:
    start = period_start(anchor, Cycle.MONTHLY, k)
    assert start.day == min(anchor.day, _month_length(start.year, start.month))
    assert start.time() == anchor.time()
    assert period_start(anchor, Cycle.MONTHLY, k + 1) > start


@given(anchors, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_m7_period_containing_contains(anchor: datetime, offset: timedelta) -> None:
    at = anchor + offset
    for cycle in Cycle:
        start, end = period_containing(anchor, cycle, at)
        assert start <= at < end
        assert end == add_months(anchor, (period_index(anchor, cycle, at) + 1) * cycle.months)


def _month_length(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return (following - timedelta(days=1)).day
