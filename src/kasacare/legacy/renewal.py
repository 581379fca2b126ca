"""Legacy renewals (L1) and their dunning: the `LEGACY` kind of the renewal engine
(`kasacare.renewals.engine`), which does the work for new and legacy plans alike.

A direct legacy subscription renews at its grandfathered price; after the last failed retry
it ends, which counts as a cancel for the lock-out (L5), and the credit balance is refunded
(M9). App-store subscriptions are billed by the store (L6): never charged here, they end at
their imported period's end unless the operator extends it
(`POST /v1/admin/legacy-subscriptions/{id}/extend`); that expiry is not a cancel.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing.charging import Payer
from kasacare.billing.locks import lock_legacy
from kasacare.billing.rules import LineDraft
from kasacare.billing.tax import TaxTreatment
from kasacare.catalog.schemas import Catalog
from kasacare.kit.money import Money
from kasacare.legacy.models import Channel, LegacyEndReason, LegacyStatus, LegacySubscription
from kasacare.legacy.service import end, lock_out, owned_cameras
from kasacare.renewals import engine
from kasacare.renewals.ending import end_paid_coverage


class Legacy:
    """Grandfathered legacy subscriptions, as the renewal engine sees them."""

    model = LegacySubscription

    def renewing(self) -> ColumnElement[bool]:
        return LegacySubscription.status == LegacyStatus.ACTIVE

    def retrying(self) -> ColumnElement[bool]:
        return LegacySubscription.status == LegacyStatus.PAST_DUE

    def lock(self, session: Session, row_id: uuid.UUID) -> LegacySubscription | None:
        return lock_legacy(session, row_id)

    def is_live(self, row: LegacySubscription) -> bool:
        return row.live

    def is_renewing(self, row: LegacySubscription) -> bool:
        return row.status is LegacyStatus.ACTIVE

    def is_past_due(self, row: LegacySubscription) -> bool:
        return row.status is LegacyStatus.PAST_DUE

    def ends_at_period_end(self, row: LegacySubscription) -> bool:
        return row.channel is Channel.APP_STORE

    def start_period(
        self,
        catalog: Catalog,
        row: LegacySubscription,
        start: datetime,
        end: datetime,
        tax: TaxTreatment,
    ) -> list[LineDraft]:
        """The grandfathered price is what is charged (gross): its tax is split out of it."""
        row.current_period_start, row.current_period_end = start, end
        row.paid, row.refunded = 0, 0
        name = catalog.legacy_plans[row.plan].name
        price = Money(row.price, row.currency)
        return [LineDraft(f"{name}, {row.cycle.value}", price, start, end, tax)]

    def mark_paid(self, row: LegacySubscription) -> None:
        row.status = LegacyStatus.ACTIVE
        row.paid = row.price

    def mark_past_due(self, row: LegacySubscription) -> None:
        row.status = LegacyStatus.PAST_DUE

    def end_unpaid(
        self,
        session: Session,
        catalog: Catalog,
        now: datetime,
        account: Account,
        row: LegacySubscription,
    ) -> None:
        """Dunning's end (a cancel for L5), or an app-store period that ended without an
        extension (not a cancel: the operator may import a renewal the store made). Nothing
        was paid to us for the period; the balance goes back (M9)."""
        dunning = row.status is LegacyStatus.PAST_DUE
        reason = LegacyEndReason.DUNNING if dunning else LegacyEndReason.EXPIRED
        end_paid_coverage(
            session,
            catalog,
            now,
            account,
            plan_id=row.id,
            cameras=owned_cameras(session, account, row.camera_ids, allow_unbound=True),
            end=lambda: end(session, now, row, reason),
            refund=[],
        )
        if dunning:
            lock_out(account, now)

    def notice(self, row: LegacySubscription) -> dict[str, str]:
        return {"legacy_subscription_id": str(row.id)}


LEGACY = Legacy()


def next_due(session: Session, after: datetime | None = None) -> datetime | None:
    return engine.next_due(session, LEGACY, after)


def due_at(
    session: Session, moment: datetime, limit: int = 100, after_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    return engine.due_at(session, LEGACY, moment, limit, after_id)


def advance(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    legacy_id: uuid.UUID,
    *,
    claim: bool = False,
) -> bool:
    return engine.advance(session, catalog, payer, now, LEGACY, legacy_id, claim=claim)


def retry_on_card_change(
    session: Session, catalog: Catalog, payer: Payer, now: datetime, legacy_id: uuid.UUID
) -> bool:
    """M2: a replaced card pays a past_due legacy subscription's open invoice at once."""
    return engine.retry_on_card_change(session, catalog, payer, now, LEGACY, legacy_id)
