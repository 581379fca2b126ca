"""The new plans' renewals and dunning (T4, M5, M7): the `NEW_PLANS` kind of the renewal
engine (`kasacare.renewals.engine`), which does the work for new and legacy plans alike.

A live trialing or active subscription whose period has ended renews at catalog prices; the
first renewal of a trial is its first charge. After the last failed retry the subscription
ends like a cancel that refunds nothing for the unpaid period (the balance still goes back,
C1, M9) and its cameras fall back to their free plan.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, joinedload

from kasacare.accounts.models import Account
from kasacare.billing.charging import Payer
from kasacare.billing.locks import lock_account, lock_subscription
from kasacare.billing.rules import LineDraft
from kasacare.billing.tax import TaxTreatment, gross_price
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.kit.calendar import Cycle
from kasacare.kit.money import Money
from kasacare.notifications.reminders import schedule_subscription
from kasacare.renewals import engine
from kasacare.renewals.ending import end_paid_coverage
from kasacare.subscriptions.models import EndReason, PlanId, Status, Subscription
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.rules import SeatState
from kasacare.subscriptions.service import end_subscription

RETRY_DAYS = engine.RETRY_DAYS

_RENEWABLE = (Status.ACTIVE, Status.TRIALING)


class NewPlans:
    """Plus and Premium subscriptions, as the renewal engine sees them."""

    model = Subscription

    def renewing(self) -> ColumnElement[bool]:
        return Subscription.ended_at.is_(None) & Subscription.status.in_(_RENEWABLE)

    def retrying(self) -> ColumnElement[bool]:
        return Subscription.ended_at.is_(None) & (Subscription.status == Status.PAST_DUE)

    def lock(self, session: Session, row_id: uuid.UUID) -> Subscription | None:
        return lock_subscription(session, row_id)

    def is_live(self, row: Subscription) -> bool:
        return row.ended_at is None

    def is_renewing(self, row: Subscription) -> bool:
        return row.status in _RENEWABLE

    def is_past_due(self, row: Subscription) -> bool:
        return row.status is Status.PAST_DUE

    def ends_at_period_end(self, row: Subscription) -> bool:
        return not row.auto_renew

    def start_period(
        self,
        catalog: Catalog,
        row: Subscription,
        start: datetime,
        end: datetime,
        tax: TaxTreatment,
    ) -> list[LineDraft]:
        line, price = period_line(
            catalog, row.plan, row.cycle, row.currency, len(row.seats), start, end, tax
        )
        row.current_period_start, row.current_period_end = start, end
        row.unit_price = price.amount
        row.tax = tax.as_json()
        row.status = Status.ACTIVE
        schedule_subscription(row)
        return [line]

    def mark_paid(self, row: Subscription) -> None:
        row.status = Status.ACTIVE

    def mark_past_due(self, row: Subscription) -> None:
        row.status = Status.PAST_DUE

    def end_unpaid(
        self, session: Session, catalog: Catalog, now: datetime, account: Account, row: Subscription
    ) -> None:
        past_due = row.status is Status.PAST_DUE
        reason = EndReason.DUNNING if past_due else EndReason.NOT_RENEWED
        end_paid_coverage(
            session,
            catalog,
            now,
            account,
            plan_id=row.id,
            cameras=_cameras(session, row.camera_ids),
            end=lambda: end_subscription(SubscriptionRepository(session), row, now, reason),
            # Nothing for the period: unpaid (dunning), or paid and used to its end (auto-renew
            # off). The balance goes back either way (M9).
            refund=[],
        )

    def notice(self, row: Subscription) -> dict[str, str]:
        return {"subscription_id": str(row.id)}


NEW_PLANS = NewPlans()


def period_line(
    catalog: Catalog,
    plan_id: PlanId,
    cycle: Cycle,
    currency: str,
    seats: int,
    start: datetime,
    end: datetime,
    tax: TaxTreatment,
) -> tuple[LineDraft, Money]:
    """A renewal's invoice line for the period [start, end) at catalog prices under `tax`,
    and the unit price it invoices (T4: a trial's first charge too)."""
    plan = catalog.plans[plan_id]
    catalog_price = plan.price(currency, cycle)
    assert catalog_price is not None, "a live subscription's plan is sold in its currency"
    price = gross_price(catalog_price, tax)
    state = SeatState(plan, seats, price)
    description = f"{state.describe()}, {cycle.value}"
    return LineDraft(description, state.period_value, start, end, tax), price


def next_due(session: Session, after: datetime | None = None) -> datetime | None:
    return engine.next_due(session, NEW_PLANS, after)


def due_at(
    session: Session, moment: datetime, limit: int = 100, after_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    return engine.due_at(session, NEW_PLANS, moment, limit, after_id)


def advance(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    subscription_id: uuid.UUID,
    *,
    claim: bool = False,
) -> bool:
    return engine.advance(session, catalog, payer, now, NEW_PLANS, subscription_id, claim=claim)


def retry_on_card_change(
    session: Session, catalog: Catalog, payer: Payer, now: datetime, account_id: uuid.UUID
) -> bool:
    """M2: a replaced card pays a past_due subscription's open invoice at once."""
    lock_account(session, account_id)
    live = SubscriptionRepository(session).live(account_id)
    if live is None or live.status is not Status.PAST_DUE:
        return False
    return engine.retry_on_card_change(session, catalog, payer, now, NEW_PLANS, live.id)


def _cameras(session: Session, camera_ids: list[uuid.UUID]) -> list[Camera]:
    return list(
        session.scalars(
            select(Camera).options(joinedload(Camera.device)).where(Camera.id.in_(camera_ids))
        )
    )


__all__ = [
    "NEW_PLANS",
    "RETRY_DAYS",
    "advance",
    "due_at",
    "next_due",
    "period_line",
    "retry_on_card_change",
]
