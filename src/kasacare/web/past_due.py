"""The failed-payment banner's facts (issue 14 item 4): the open invoice's amount and
number, the next retry and the day the plan ends if every retry fails (M5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from kasacare.billing.repository import BillingRepository
from kasacare.kit.money import Money
from kasacare.renewals.engine import RETRY_DAYS
from kasacare.subscriptions.models import Status, Subscription


def past_due(session: Session, live: Subscription | None) -> dict[str, Any] | None:
    if live is None or live.status is not Status.PAST_DUE:
        return None
    invoices = BillingRepository(session).open_invoices(live.id)
    if not invoices:
        return None
    invoice = invoices[0]
    ends = live.dunning_since + timedelta(days=RETRY_DAYS[-1]) if live.dunning_since else None
    return {
        "amount": Money(invoice.total, invoice.currency),
        "number": invoice.number,
        "next_retry": live.next_retry_at,
        "ends": ends,
    }
