"""Money and the one rounding rule (SPEC M6)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasacare.kit.money import Money, format_money, round_half_even


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(133, 2), 66),  # 66.5 -> 66 (399 x 5/30, SPEC M6's example)
        (Fraction(135, 2), 68),  # 67.5 -> 68
        (Fraction(-133, 2), -66),
        (Fraction(266), 266),
        (Fraction(2661, 10), 266),
        (Fraction(2666, 10), 267),
    ],
)
def test_m6_round_half_even(value: Fraction, expected: int) -> None:
    assert round_half_even(value) == expected


def test_m6_proration_example_399_times_5_over_30_is_66() -> None:
    # 399 x 5/30 = 66.5 -> 66 (half-even); 399 x 20/30 = 266.0 -> 266
    assert Money(399, "USD").times(Fraction(5, 30)) == Money(66, "USD")
    assert Money(399, "USD").times(Fraction(20, 30)) == Money(266, "USD")


def test_m6_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(TypeError):
        Money(3.99, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot combine"):
        _ = Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(1, "usd")


@given(st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9))
def test_m6_addition_is_exact(a: int, b: int) -> None:
    assert (Money(a, "GBP") + Money(b, "GBP")).amount == a + b
    assert (Money(a, "GBP") - Money(b, "GBP")).amount == a - b


@given(st.integers(0, 10**7), st.fractions(min_value=0, max_value=1))
def test_m6_rounding_is_within_half_a_cent(amount: int, ratio: Fraction) -> None:
    rounded = Money(amount, "USD").times(ratio).amount
    assert abs(rounded - amount * ratio) <= Fraction(1, 2)
    assert 0 <= rounded <= amount


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(399, "USD"), "$3.99"),
        (Money(3499, "GBP"), "£34.99"),
        (Money(-100, "EUR"), "-€1.00"),
        (Money(1399999, "CAD"), "CA$13,999.99"),
        (Money(5, "AUD"), "A$0.05"),
    ],
)
def test_format_money(money: Money, text: str) -> None:
    assert format_money(money) == text
