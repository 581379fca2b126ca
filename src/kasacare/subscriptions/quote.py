"""The quote of a change (C5): what the owner will be charged, refunded and credited, the
balance left, the next invoice, and which history of which camera will be erased. The real
call and its preview build it with the same code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kasacare.entitlements.erasure import Erasure
from kasacare.kit.money import Money


@dataclass(frozen=True, slots=True)
class NextInvoice:
    date: datetime
    amount: Money


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


def quote_json(quote: Quote) -> dict[str, object]:
    """The quote as JSON members (for a problem body such as legacy_confirmation_required)."""

    def money(value: Money) -> dict[str, object]:
        return {"amount": value.amount, "currency": value.currency}

    def iso(moment: datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    return {
        "charge_now": money(quote.charge_now),
        "refund_now": money(quote.refund_now),
        "credit_added": money(quote.credit_added),
        "credit_used": money(quote.credit_used),
        "balance_after": money(quote.balance_after),
        "next_invoice": (
            {"date": iso(quote.next_invoice.date), "amount": money(quote.next_invoice.amount)}
            if quote.next_invoice
            else None
        ),
        "erased": [{"camera_id": str(e.camera_id), "before": iso(e.before)} for e in quote.erased],
    }
