"""The quote of a change (C5): what the owner will be charged, refunded and credited, the
balance left, the next invoice, and which history of which camera will be erased. A use
case's plan builds it once (`subscriptions.use_cases`); the preview shows it, the real call
applies the plan it belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kasacare.billing.tax import TaxTreatment
from kasacare.entitlements.erasure import Erasure
from kasacare.kit.money import Money


@dataclass(frozen=True, slots=True)
class NextInvoice:
    date: datetime
    amount: Money


@dataclass(frozen=True, slots=True)
class Quote:
    charge_now: Money
    refund_now: Money
    credit_added: Money
    credit_used: Money
    balance_after: Money
    next_invoice: NextInvoice | None = None
    erased: tuple[Erasure, ...] = ()
    #: The tax in what is invoiced now and in what is refunded or credited now, and its
    #: treatment (issue 14 item 1). Filled from the plan's documents (`BillingPlan`).
    tax_charged: Money | None = None
    tax_credited: Money | None = None
    tax: TaxTreatment | None = None

    @classmethod
    def nothing(
        cls,
        balance: Money,
        next_invoice: NextInvoice | None = None,
        erased: tuple[Erasure, ...] = (),
    ) -> Quote:
        """No money moves: the balance stays as it is."""
        zero = Money.zero(balance.currency)
        return cls(zero, zero, zero, zero, balance, next_invoice, erased)


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
        "tax_charged": money(quote.tax_charged or Money.zero(quote.charge_now.currency)),
        "tax_credited": money(quote.tax_credited or Money.zero(quote.charge_now.currency)),
        "tax": quote.tax.as_json() if quote.tax else None,
    }
