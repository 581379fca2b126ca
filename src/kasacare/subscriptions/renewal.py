"""Renewals and dunning (T4, M5, M7) as idempotent batch steps of `now`.

- A live trialing or active subscription whose period has ended renews: the next period on
  the anchor's calendar, invoiced at catalog prices, paid from the balance then the card
  with the key `renewal:<subscription>:<period_start>`. The first renewal of a trial is
  its first charge.
- A failed charge leaves an open invoice and makes the subscription past_due (cameras keep
  their plan); retries come 1, 3, 5 and 7 days after the first failure. After the last
  failure the subscription ends, its open invoice is voided and the balance is refunded (C1).

Each step locks the account, then its subscription (`billing.locks`), runs as one use case
through `billing.charging.run_charged` (the charge is an attempt committed before the
gateway call) and is safe to rerun: a rerun reuses the period's pending attempt and its key,
so a charge whose commit was lost comes back as the same charge.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from kasacare.accounts.models import Account
from kasacare.billing import service as billing
from kasacare.billing.charging import Payer, Pays
from kasacare.billing.locks import lock_account, lock_subscription
from kasacare.billing.models import Invoice
from kasacare.billing.repository import BillingRepository
from kasacare.billing.rules import LineDraft
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import erasures, record_erasure
from kasacare.kit.calendar import period_index, period_start
from kasacare.notifications.models import Kind
from kasacare.notifications.service import notify
from kasacare.payments.errors import CardDeclined, PaymentMethodRequired
from kasacare.subscriptions.models import EndReason, Status, Subscription
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.rules import SeatState
from kasacare.subscriptions.service import end_subscription

RETRY_DAYS = (1, 3, 5, 7)

_RENEWABLE = (Status.ACTIVE, Status.TRIALING)


def next_due(session: Session) -> datetime | None:
    """The earliest instant at which a renewal or a retry falls due (or a failed one's
    back-off ends)."""
    waiting = Subscription.job_retry_at.is_(None)
    renewals = session.scalar(
        select(func.min(Subscription.current_period_end)).where(
            Subscription.ended_at.is_(None), Subscription.status.in_(_RENEWABLE), waiting
        )
    )
    retries = session.scalar(
        select(func.min(Subscription.next_retry_at)).where(
            Subscription.ended_at.is_(None), Subscription.status == Status.PAST_DUE, waiting
        )
    )
    backed_off = session.scalar(
        select(func.min(Subscription.job_retry_at)).where(Subscription.ended_at.is_(None))
    )
    candidates = [moment for moment in (renewals, retries, backed_off) if moment is not None]
    return min(candidates) if candidates else None


def due_at(session: Session, moment: datetime, limit: int = 100) -> list[uuid.UUID]:
    """Subscriptions with a renewal or retry due at or before `moment`, except those waiting
    for the back-off of a failed step. Each runs under the account's lock (`advance`), so two
    workers that pick the same one run it once."""
    return list(
        session.scalars(
            select(Subscription.id)
            .where(
                Subscription.ended_at.is_(None),
                (Subscription.status.in_(_RENEWABLE) & (Subscription.current_period_end <= moment))
                | (
                    (Subscription.status == Status.PAST_DUE)
                    & (Subscription.next_retry_at <= moment)
                ),
                Subscription.job_retry_at.is_(None) | (Subscription.job_retry_at <= moment),
            )
            .order_by(Subscription.id)
            .limit(limit)
        )
    )


def advance(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    subscription_id: uuid.UUID,
) -> None:
    """Run whatever is due for one subscription at `now` (renewal or retry)."""
    account_id = session.scalar(
        select(Subscription.account_id).where(Subscription.id == subscription_id)
    )
    if account_id is None:
        return
    account = lock_account(session, account_id)
    subscription = lock_subscription(session, subscription_id)
    if subscription is None or subscription.ended_at is not None:
        return
    if subscription.status in _RENEWABLE and subscription.current_period_end <= now:
        _renew(session, catalog, payer, now, account, subscription)
    elif (
        subscription.status is Status.PAST_DUE
        and subscription.next_retry_at is not None
        and subscription.next_retry_at <= now
    ):
        retry(session, catalog, payer, now, account, subscription)


def _renew(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    account: Account,
    subscription: Subscription,
) -> None:
    start = subscription.current_period_end
    index = period_index(subscription.anchor, subscription.cycle, start)
    end = period_start(subscription.anchor, subscription.cycle, index + 1)
    plan = catalog.plans[subscription.plan]
    price = plan.price(subscription.currency, subscription.cycle)
    assert price is not None, "a live subscription's plan is sold in its currency"
    state = SeatState(plan, len(subscription.seats), price)
    subscription.current_period_start, subscription.current_period_end = start, end
    subscription.unit_price = price.amount
    subscription.status = Status.ACTIVE
    lines = [
        LineDraft(f"{state.describe()}, {subscription.cycle.value}", state.period_value, start, end)
    ]
    try:
        billing.issue_invoice(
            session,
            payer,
            now,
            account,
            subscription_id=subscription.id,
            lines=lines,
            pays=Pays.renewal(subscription.id, start),
        )
    except (CardDeclined, PaymentMethodRequired):
        invoice = billing.issue_open_invoice(
            session, now, account, subscription_id=subscription.id, lines=lines
        )
        subscription.status = Status.PAST_DUE
        subscription.dunning_since = now
        subscription.retries_done = 0
        subscription.next_retry_at = now + timedelta(days=RETRY_DAYS[0])
        _payment_failed(session, now, subscription, invoice)


def retry(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    account: Account,
    subscription: Subscription,
    *,
    scheduled: bool = True,
) -> bool:
    """Try the open invoice again: a scheduled retry, or one at once when the card is
    replaced (`scheduled=False`, which leaves the schedule as it was). True when paid."""
    (invoice,) = BillingRepository(session).open_invoices(subscription.id)
    try:
        billing.pay_open_invoice(
            session,
            payer,
            now,
            account,
            invoice,
            pays=Pays.renewal(subscription.id, subscription.current_period_start),
        )
    except (CardDeclined, PaymentMethodRequired):
        if scheduled:
            subscription.retries_done += 1
            if subscription.retries_done >= len(RETRY_DAYS):
                _payment_failed(session, now, subscription, invoice)
                _end_in_dunning(session, catalog, now, account, subscription)
                return False
            assert subscription.dunning_since is not None
            subscription.next_retry_at = subscription.dunning_since + timedelta(
                days=RETRY_DAYS[subscription.retries_done]
            )
        _payment_failed(session, now, subscription, invoice)
        return False
    subscription.status = Status.ACTIVE  # the anchor is kept (M5)
    subscription.dunning_since = None
    subscription.retries_done = 0
    subscription.next_retry_at = None
    return True


def _payment_failed(
    session: Session, now: datetime, subscription: Subscription, invoice: Invoice
) -> None:
    """M5: the owner is told of every failed charge, and when the next try comes."""
    retry_at = subscription.next_retry_at if subscription.status is Status.PAST_DUE else None
    notify(
        session,
        subscription.account_id,
        Kind.PAYMENT_FAILED,
        now,
        {
            "subscription_id": str(subscription.id),
            "invoice_number": invoice.number,
            "amount": {"amount": invoice.total, "currency": invoice.currency},
            "next_retry_at": retry_at.isoformat().replace("+00:00", "Z") if retry_at else None,
        },
    )


def _end_in_dunning(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    subscription: Subscription,
) -> None:
    """M5: after the last failure the plan ends like a cancel that refunds nothing for the
    unpaid period (the balance still goes back, C1); cameras fall to their free plan."""
    cameras = _cameras(session, subscription.camera_ids)
    erased = erasures(session, catalog, now, cameras, {camera.id: None for camera in cameras})
    billing.void_open_invoices(session, subscription.id)
    billing.refund_on_cancel(
        session, now, account, subscription_id=subscription.id, unused_lines=[]
    )
    end_subscription(SubscriptionRepository(session), subscription, now, EndReason.DUNNING)
    record_erasure(session, account.id, now, erased)
    reconcile_account(session, catalog, account.id, now)


def _cameras(session: Session, camera_ids: list[uuid.UUID]) -> list[Camera]:
    return list(
        session.scalars(
            select(Camera).options(joinedload(Camera.device)).where(Camera.id.in_(camera_ids))
        )
    )


def retry_on_card_change(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    account_id: uuid.UUID,
) -> bool:
    """M2: a replaced card pays a past_due subscription's open invoice at once
    (`kasacare.jobs.retry_on_card_change` runs this and the legacy counterpart)."""
    account = lock_account(session, account_id)
    live = SubscriptionRepository(session).live(account_id)
    if live is None or live.status is not Status.PAST_DUE:
        return False
    return retry(session, catalog, payer, now, account, live, scheduled=False)
