"""Pure subscription rules: what a state is worth and the lines of a change (C2, C3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kasacare.billing.rules import LineDraft
from kasacare.billing.tax import TaxTreatment
from kasacare.catalog.schemas import Plan
from kasacare.kit.money import Money
from kasacare.kit.proration import prorate


@dataclass(frozen=True, slots=True)
class SeatState:
    """A subscription's priced state: plan, seats and the full-period unit price."""

    plan: Plan
    seats: int
    unit_price: Money

    @property
    def period_value(self) -> Money:
        """Full-period price: seats x seat price (Plus) or the flat price (Premium)."""
        if self.plan.per_camera:
            return Money(self.unit_price.amount * self.seats, self.unit_price.currency)
        return self.unit_price

    def describe(self) -> str:
        if self.plan.per_camera:
            return f"{self.plan.name} x {self.seats} camera{'s' if self.seats != 1 else ''}"
        return self.plan.name


def net_of_credit(state: SeatState, balance: Money) -> Money:
    """A state's full-period value less what the credit balance pays of it (P5)."""
    value = state.period_value
    return value - value.min(balance) if balance.amount > 0 else value


def unused_line(
    state: SeatState, start: datetime, end: datetime, at: datetime, tax: TaxTreatment
) -> LineDraft:
    """The unused part of a state, as credited (positive): value x M6 fraction, rounded;
    its tax split out of that gross at the period's `tax`."""
    return LineDraft(
        f"Unused time on {state.describe()}",
        prorate(state.period_value, start, end, at),
        at,
        end,
        tax,
    )


def change_lines(
    old: SeatState,
    new: SeatState,
    start: datetime,
    end: datetime,
    at: datetime,
    tax: TaxTreatment,
) -> list[LineDraft]:
    """C2: a credit line for the unused part of the old state (all seats) and a charge line
    for the new state to the same period end, each rounded on its own (M6), each taxed at
    the period's `tax` (split out of its prorated gross)."""
    credit = unused_line(old, start, end, at, tax)
    charge = prorate(new.period_value, start, end, at)
    return [
        credit.negated(),
        LineDraft(f"Remaining time on {new.describe()}", charge, at, end, tax),
    ]
