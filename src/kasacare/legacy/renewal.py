"""Legacy renewals (L1) as steps of `now`, like the new plans' (M5, M7): a direct legacy
subscription renews at its grandfathered price, paid from the balance then the card with the
key `renewal:<legacy id>:<period_start>`; a failure makes it past_due with retries 1, 3, 5
and 7 days later, and ending in dunning counts as a cancel for the lock-out (L5).
App-store subscriptions are skipped: the store bills them (L6)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kasacare.billing import service as billing
from kasacare.billing.models import Invoice
from kasacare.billing.repository import BillingRepository
from kasacare.billing.rules import LineDraft
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import erasures, record_erasure
from kasacare.kit.calendar import period_index, period_start
from kasacare.kit.money import Money
from kasacare.legacy.models import Channel, LegacyEndReason, LegacyStatus, LegacySubscription
from kasacare.legacy.repository import LegacyRepository
from kasacare.legacy.service import end, lock_out, owned_cameras
from kasacare.notifications.models import Kind
from kasacare.notifications.service import notify
from kasacare.payments.errors import CardDeclined, PaymentMethodRequired
from kasacare.payments.gateway import PaymentGateway
from kasacare.subscriptions.renewal import RETRY_DAYS
from kasacare.subscriptions.repository import SubscriptionRepository

_RENEWING = (LegacySubscription.status == LegacyStatus.ACTIVE) & (
    LegacySubscription.channel == Channel.DIRECT
)
_RETRYING = LegacySubscription.status == LegacyStatus.PAST_DUE


def renewal_key(legacy: LegacySubscription) -> str:
    return f"renewal:{legacy.id}:{legacy.current_period_start.isoformat()}"


def next_due(session: Session) -> datetime | None:
    renewals = session.scalar(
        select(func.min(LegacySubscription.current_period_end)).where(_RENEWING)
    )
    retries = session.scalar(select(func.min(LegacySubscription.next_retry_at)).where(_RETRYING))
    candidates = [moment for moment in (renewals, retries) if moment is not None]
    return min(candidates) if candidates else None


def due_at(session: Session, moment: datetime, limit: int = 100) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(LegacySubscription.id)
            .where(
                (_RENEWING & (LegacySubscription.current_period_end <= moment))
                | (_RETRYING & (LegacySubscription.next_retry_at <= moment))
            )
            .order_by(LegacySubscription.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def advance(
    session: Session, catalog: Catalog, gateway: PaymentGateway, now: datetime, legacy_id: uuid.UUID
) -> None:
    legacy = LegacyRepository(session).get(legacy_id, for_update=True)
    if legacy is None or not legacy.live or legacy.channel is Channel.APP_STORE:
        return
    if legacy.status is LegacyStatus.ACTIVE and legacy.current_period_end <= now:
        _renew(session, catalog, gateway, now, legacy)
    elif (
        legacy.status is LegacyStatus.PAST_DUE
        and legacy.next_retry_at is not None
        and legacy.next_retry_at <= now
    ):
        retry(session, catalog, gateway, now, legacy)


def _renew(
    session: Session,
    catalog: Catalog,
    gateway: PaymentGateway,
    now: datetime,
    legacy: LegacySubscription,
) -> None:
    account = SubscriptionRepository(session).lock_account(legacy.account_id)
    start = legacy.current_period_end
    index = period_index(legacy.anchor, legacy.cycle, start)
    end_at = period_start(legacy.anchor, legacy.cycle, index + 1)
    legacy.current_period_start, legacy.current_period_end = start, end_at
    legacy.paid, legacy.refunded = 0, 0
    name = catalog.legacy_plans[legacy.plan].name
    price = Money(legacy.price, legacy.currency)
    lines = [LineDraft(f"{name}, {legacy.cycle.value}", price, start, end_at)]
    try:
        billing.issue_invoice(
            session,
            gateway,
            now,
            account,
            subscription_id=legacy.id,
            lines=lines,
            key=renewal_key(legacy),
        )
    except (CardDeclined, PaymentMethodRequired):
        invoice = billing.issue_open_invoice(
            session, now, account, subscription_id=legacy.id, lines=lines
        )
        legacy.status = LegacyStatus.PAST_DUE
        legacy.dunning_since = now
        legacy.retries_done = 0
        legacy.next_retry_at = now + timedelta(days=RETRY_DAYS[0])
        _payment_failed(session, now, legacy, invoice)
        return
    legacy.paid = legacy.price


def retry(
    session: Session,
    catalog: Catalog,
    gateway: PaymentGateway,
    now: datetime,
    legacy: LegacySubscription,
    *,
    scheduled: bool = True,
) -> bool:
    account = SubscriptionRepository(session).lock_account(legacy.account_id)
    (invoice,) = BillingRepository(session).open_invoices(legacy.id)
    try:
        billing.pay_open_invoice(session, gateway, now, account, invoice, key=renewal_key(legacy))
    except (CardDeclined, PaymentMethodRequired):
        if scheduled:
            legacy.retries_done += 1
            if legacy.retries_done >= len(RETRY_DAYS):
                _payment_failed(session, now, legacy, invoice)
                cameras = owned_cameras(session, account, legacy.camera_ids, allow_unbound=True)
                erased = erasures(session, catalog, now, cameras, {c.id: None for c in cameras})
                billing.void_open_invoices(session, legacy.id)
                end(session, now, legacy, LegacyEndReason.DUNNING)
                record_erasure(session, account.id, now, erased)
                lock_out(account, now)  # L1: ending in dunning counts as a cancel for L5
                reconcile_account(session, catalog, account.id, now)
                return False
            assert legacy.dunning_since is not None
            legacy.next_retry_at = legacy.dunning_since + timedelta(
                days=RETRY_DAYS[legacy.retries_done]
            )
        _payment_failed(session, now, legacy, invoice)
        return False
    legacy.status = LegacyStatus.ACTIVE
    legacy.paid = legacy.price
    legacy.dunning_since = None
    legacy.retries_done = 0
    legacy.next_retry_at = None
    return True


def _payment_failed(
    session: Session, now: datetime, legacy: LegacySubscription, invoice: Invoice
) -> None:
    retry_at = legacy.next_retry_at if legacy.status is LegacyStatus.PAST_DUE else None
    notify(
        session,
        legacy.account_id,
        Kind.PAYMENT_FAILED,
        now,
        {
            "legacy_subscription_id": str(legacy.id),
            "invoice_number": invoice.number,
            "amount": {"amount": invoice.total, "currency": invoice.currency},
            "next_retry_at": retry_at.isoformat().replace("+00:00", "Z") if retry_at else None,
        },
    )
