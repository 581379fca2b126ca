"""The quote of a change (C5): what the owner will be charged, refunded and credited, the
balance left, the next invoice, and which history of which camera will be erased. The real
call and its preview build it with the same code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from kasacare.kit.money import Money


@dataclass(frozen=True, slots=True)
class NextInvoice:
    date: datetime
    amount: Money


@dataclass(frozen=True, slots=True)
class Erasure:
    """Clips of this camera that started before `before` will be erased."""

    camera_id: uuid.UUID
    before: datetime


@dataclass(slots=True)
class Quote:
    charge_now: Money
    refund_now: Money
    credit_added: Money
    credit_used: Money
    balance_after: Money
    next_invoice: NextInvoice | None = None
    erased: list[Erasure] = field(default_factory=list)

    @classmethod
    def nothing(cls, balance: Money) -> Quote:
        zero = Money.zero(balance.currency)
        return cls(zero, zero, zero, zero, balance)
