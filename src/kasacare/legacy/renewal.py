"""Legacy renewals (L1) as steps of `now`, like the new plans' (M5, M7): a direct legacy
subscription renews at its grandfathered price, paid from the balance then the card with the
key `renewal:<legacy id>:<period_start>`; a failure makes it past_due with retries 1, 3, 5
and 7 days later, and ending in dunning counts as a cancel for the lock-out (L5) and refunds
the credit balance (M9).

App-store subscriptions are billed by the store (L6): they are never charged here, and end at
their imported period end unless the operator extends it
(`POST /v1/admin/legacy-subscriptions/{id}/extend`).

Each step locks the account, then the legacy subscription (`billing.locks`), and runs
through `billing.charging.run_charged`, like the new plans' renewals.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing import service as billing
from kasacare.billing.charging import Payer, Pays
from kasacare.billing.locks import lock_account, lock_legacy
from kasacare.billing.models import Invoice
from kasacare.billing.repository import BillingRepository
from kasacare.billing.rules import LineDraft
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import erasures, record_erasure
from kasacare.kit.calendar import period_index, period_start
from kasacare.kit.money import Money
from kasacare.legacy.models import Channel, LegacyEndReason, LegacyStatus, LegacySubscription
from kasacare.legacy.service import end, lock_out, owned_cameras
from kasacare.notifications.models import Kind
from kasacare.notifications.service import notify
from kasacare.payments.errors import CardDeclined, PaymentMethodRequired
from kasacare.subscriptions.renewal import RETRY_DAYS

_RENEWING = LegacySubscription.status == LegacyStatus.ACTIVE
_RETRYING = LegacySubscription.status == LegacyStatus.PAST_DUE


def next_due(session: Session) -> datetime | None:
    waiting = LegacySubscription.job_retry_at.is_(None)
    renewals = session.scalar(
        select(func.min(LegacySubscription.current_period_end)).where(_RENEWING, waiting)
    )
    retries = session.scalar(
        select(func.min(LegacySubscription.next_retry_at)).where(_RETRYING, waiting)
    )
    backed_off = session.scalar(
        select(func.min(LegacySubscription.job_retry_at)).where(
            LegacySubscription.status != LegacyStatus.ENDED
        )
    )
    candidates = [moment for moment in (renewals, retries, backed_off) if moment is not None]
    return min(candidates) if candidates else None


def due_at(session: Session, moment: datetime, limit: int = 100) -> list[uuid.UUID]:
    """Legacy subscriptions with a renewal, retry or app-store end due at `moment`, except
    those whose last step failed and wait for their back-off (`job_retry_at`)."""
    return list(
        session.scalars(
            select(LegacySubscription.id)
            .where(
                (_RENEWING & (LegacySubscription.current_period_end <= moment))
                | (_RETRYING & (LegacySubscription.next_retry_at <= moment)),
                LegacySubscription.job_retry_at.is_(None)
                | (LegacySubscription.job_retry_at <= moment),
            )
            .order_by(LegacySubscription.id)
            .limit(limit)
        )
    )


def advance(
    session: Session, catalog: Catalog, payer: Payer, now: datetime, legacy_id: uuid.UUID
) -> None:
    account_id = session.scalar(
        select(LegacySubscription.account_id).where(LegacySubscription.id == legacy_id)
    )
    if account_id is None:
        return
    account = lock_account(session, account_id)
    legacy = lock_legacy(session, legacy_id)
    if legacy is None or not legacy.live:
        return
    if legacy.status is LegacyStatus.ACTIVE and legacy.current_period_end <= now:
        if legacy.channel is Channel.APP_STORE:
            _expire(session, catalog, now, account, legacy)
        else:
            _renew(session, catalog, payer, now, account, legacy)
    elif (
        legacy.status is LegacyStatus.PAST_DUE
        and legacy.next_retry_at is not None
        and legacy.next_retry_at <= now
    ):
        retry(session, catalog, payer, now, account, legacy)


def _renew(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    account: Account,
    legacy: LegacySubscription,
) -> None:
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
            payer,
            now,
            account,
            subscription_id=legacy.id,
            lines=lines,
            pays=Pays.renewal(legacy.id, start),
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
    payer: Payer,
    now: datetime,
    account: Account,
    legacy: LegacySubscription,
    *,
    scheduled: bool = True,
) -> bool:
    (invoice,) = BillingRepository(session).open_invoices(legacy.id)
    try:
        billing.pay_open_invoice(
            session,
            payer,
            now,
            account,
            invoice,
            pays=Pays.renewal(legacy.id, legacy.current_period_start),
        )
    except (CardDeclined, PaymentMethodRequired):
        if scheduled:
            legacy.retries_done += 1
            if legacy.retries_done >= len(RETRY_DAYS):
                _payment_failed(session, now, legacy, invoice)
                _end_unpaid(session, catalog, now, account, legacy, LegacyEndReason.DUNNING)
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


def _expire(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    legacy: LegacySubscription,
) -> None:
    """L6: an app-store subscription whose period ended without an extension ends; its
    cameras fall back to their free plan (L7). Nothing was paid to us, so nothing is
    refunded for the period; the credit balance goes back as on any end of paid coverage
    (M9). Not a cancel: legacy stays open to the account (the operator may import a renewal
    the store made)."""
    _end_unpaid(session, catalog, now, account, legacy, LegacyEndReason.EXPIRED)


def _end_unpaid(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    legacy: LegacySubscription,
    reason: LegacyEndReason,
) -> None:
    """End a legacy subscription with nothing to refund for its period (dunning, expiry):
    erasures, the open invoice voided, the balance refunded (M9); ending in dunning counts as
    a cancel for L5 (L1)."""
    cameras = owned_cameras(session, account, legacy.camera_ids, allow_unbound=True)
    erased = erasures(session, catalog, now, cameras, {c.id: None for c in cameras})
    billing.void_open_invoices(session, legacy.id)
    end(session, now, legacy, reason)
    record_erasure(session, account.id, now, erased)
    billing.refund_on_cancel(session, now, account, subscription_id=legacy.id, unused_lines=[])
    if reason is LegacyEndReason.DUNNING:
        lock_out(account, now)
    reconcile_account(session, catalog, account.id, now)


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


def retry_on_card_change(
    session: Session, catalog: Catalog, payer: Payer, now: datetime, legacy_id: uuid.UUID
) -> bool:
    """M2: a replaced card pays a past_due legacy subscription's open invoice at once,
    leaving the retry schedule as it was when it fails."""
    account_id = session.scalar(
        select(LegacySubscription.account_id).where(LegacySubscription.id == legacy_id)
    )
    if account_id is None:
        return False
    account = lock_account(session, account_id)
    legacy = lock_legacy(session, legacy_id)
    if legacy is None or legacy.status is not LegacyStatus.PAST_DUE:
        return False
    return retry(session, catalog, payer, now, account, legacy, scheduled=False)
