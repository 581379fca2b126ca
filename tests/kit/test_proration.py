"""Proration (SPEC M6): the unused fraction, exact, and its half-even amount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasacare.kit.money import Money
from kasacare.kit.proration import prorate, unused_fraction

APRIL = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))  # 30 days


def test_m6_plus_cancelled_10_days_into_april_refunds_266() -> None:
    # 20 of 30 days unused: 399 x 20/30 = 266.0
    at = APRIL[0] + timedelta(days=10)
    assert unused_fraction(*APRIL, at) == Fraction(2, 3)
    assert prorate(Money(399, "USD"), *APRIL, at) == Money(266, "USD")


def test_m6_five_days_unused_refunds_66_half_even() -> None:
    # 399 x 5/30 = 66.5 -> 66
    assert prorate(Money(399, "USD"), *APRIL, APRIL[1] - timedelta(days=5)) == Money(66, "USD")


def test_m6_fraction_counts_seconds() -> None:
    # One second into a 30-day period: 2591999 / 2592000 of 1099 = 1098.9996 -> 1099
    at = APRIL[0] + timedelta(seconds=1)
    assert unused_fraction(*APRIL, at) == Fraction(2_591_999, 2_592_000)
    assert prorate(Money(1099, "USD"), *APRIL, at) == Money(1099, "USD")


def test_m6_fraction_is_clamped_outside_the_period() -> None:
    assert unused_fraction(*APRIL, APRIL[0] - timedelta(days=1)) == 1
    assert unused_fraction(*APRIL, APRIL[1] + timedelta(days=1)) == 0
    with pytest.raises(ValueError, match="end after"):
        unused_fraction(APRIL[1], APRIL[0], APRIL[0])


periods = st.tuples(
    st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive)
        max_value=datetime(2040, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive)
        timezones=st.just(UTC),
    ),
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=366)),
)


@given(periods, st.floats(0, 1), st.floats(0, 1))
def test_m6_fraction_is_in_unit_interval_and_monotone(
    period: tuple[datetime, timedelta], a: float, b: float
) -> None:
    start, length = period
    end = start + length
    early, late = sorted((start + length * a, start + length * b))
    f_early, f_late = unused_fraction(start, end, early), unused_fraction(start, end, late)
    assert 0 <= f_late <= f_early <= 1
    assert unused_fraction(start, end, start) == 1
    assert unused_fraction(start, end, end) == 0


@given(periods, st.floats(0, 1), st.integers(0, 10**6))
def test_m6_prorated_amount_never_exceeds_the_price(
    period: tuple[datetime, timedelta], a: float, price: int
) -> None:
    start, length = period
    refund = prorate(Money(price, "EUR"), start, start + length, start + length * a)
    assert 0 <= refund.amount <= price
