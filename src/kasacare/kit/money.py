"""Money: integer minor units plus an ISO 4217 code, never floats.

`round_half_even` is the one rounding rule of the whole service (SPEC M6): a ratio is
rounded to the nearest minor unit, ties to the even neighbour (66.5 -> 66, 67.5 -> 68).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

#: Minor units per major unit. Every currency we sell in has two decimals.
_MINOR_DIGITS: dict[str, int] = {"USD": 2, "GBP": 2, "EUR": 2, "CAD": 2, "AUD": 2}

_SYMBOLS: dict[str, str] = {"USD": "$", "GBP": "£", "EUR": "€", "CAD": "CA$", "AUD": "A$"}


def round_half_even(value: Fraction | int) -> int:
    """Round an exact ratio to an integer, ties to even: the only rounding rule of SPEC M6."""
    return round(Fraction(value))


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of a currency in integer minor units (cents, pence)."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Money amount must be an int of minor units, got {self.amount!r}")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"Money currency must be an ISO 4217 code, got {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, ratio: Fraction | int) -> Money:
        """This amount times an exact ratio, rounded half-even to the minor unit."""
        return Money(round_half_even(self.amount * Fraction(ratio)), self.currency)

    def min(self, other: Money) -> Money:
        self._same(other)
        return self if self.amount <= other.amount else other


def format_money(money: Money) -> str:
    """Display form for people: `$3.99`, `£34.99`, `-€1.00`. The one money formatter."""
    digits = _MINOR_DIGITS.get(money.currency, 2)
    sign = "-" if money.amount < 0 else ""
    major, minor = divmod(abs(money.amount), 10**digits)
    symbol = _SYMBOLS.get(money.currency, money.currency + " ")
    return f"{sign}{symbol}{major:,}.{minor:0{digits}d}"


#: The largest amount any input may name, in minor units (10 million major units): amounts
#: beyond it are refused as malformed before any arithmetic or database column sees them.
MAX_INPUT_AMOUNT = 10**9


def parse_major(text: str, currency: str) -> Money:
    """`12.50` (major units, at most two decimals) as Money in minor units. ValueError for
    anything else, negative amounts and amounts over MAX_INPUT_AMOUNT."""
    major, dot, minor = text.strip().partition(".")
    if not major.isdigit() or (dot and (not minor.isdigit() or len(minor) > 2)):
        raise ValueError(f"not an amount: {text!r}")
    if len(major) > 10:
        raise ValueError("amount too large")
    amount = int(major) * 100 + int(minor.ljust(2, "0") or "0")
    if amount > MAX_INPUT_AMOUNT:
        raise ValueError("amount too large")
    return Money(amount, currency)
