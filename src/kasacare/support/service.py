"""Support use cases: the audit log, and resolving app-store legacy cases (SPEC L6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.billing import service as billing
from kasacare.billing.rules import LineDraft
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import erasures, record_erasure
from kasacare.kit.errors import NotFound, ValidationFailed
from kasacare.kit.money import Money
from kasacare.legacy.models import LegacyEndReason, LegacySubscription
from kasacare.legacy.repository import LegacyRepository
from kasacare.legacy.service import end, lock_out, owned_cameras
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.support.models import AuditEntry


class Outcome(StrEnum):
    TERMINATE = "terminate"
    REFUND = "refund"
    CREDIT = "credit"


def audit(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    *,
    account_id: uuid.UUID | None,
    target: str | None,
    note: str,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action=action,
            account_id=account_id,
            target=target,
            note=note,
            data=data or {},
        )
    )


def audit_log(
    session: Session, *, account_id: uuid.UUID | None = None, limit: int = 100
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id).limit(limit)
    if account_id is not None:
        query = query.where(AuditEntry.account_id == account_id)
    return list(session.scalars(query))


def resolve_legacy(
    session: Session,
    catalog: Catalog,
    now: datetime,
    actor: str,
    legacy_id: uuid.UUID,
    outcome: Outcome,
    amount: Money | None,
    note: str,
) -> LegacySubscription:
    """L6: end a legacy subscription as support agreed with the owner: terminate (no money),
    refund to the card on file, or credit to the balance, at most what was paid minus earlier
    refunds. Every outcome ends it and closes legacy to the account (L5); the audit log keeps
    who did what and why."""
    legacy = LegacyRepository(session).get(legacy_id, for_update=True)
    if legacy is None or not legacy.live:
        raise NotFound("No live legacy subscription with this id")
    account = SubscriptionRepository(session).lock_account(legacy.account_id)
    cap = Money(legacy.paid - legacy.refunded, legacy.currency)
    if outcome is Outcome.TERMINATE:
        if amount is not None and amount.amount != 0:
            raise ValidationFailed("terminate moves no money: leave amount out", field="amount")
    else:
        if amount is None or amount.amount <= 0:
            raise ValidationFailed(f"{outcome.value} needs a positive amount", field="amount")
        if amount.currency != legacy.currency or amount.amount > cap.amount:
            raise ValidationFailed(
                f"The amount must be in {legacy.currency} and at most {cap.amount} "
                "(what was paid minus earlier refunds)",
                field="amount",
                maximum={"amount": cap.amount, "currency": cap.currency},
            )
        name = catalog.legacy_plans[legacy.plan].name
        line = LineDraft(f"{name}: resolved by support", amount)
        if outcome is Outcome.REFUND:
            billing.refund_to_card_on_file(session, now, account, source_id=legacy.id, lines=[line])
        else:
            billing.issue_credit(session, now, account, subscription_id=None, lines=[line])
        legacy.refunded += amount.amount
    cameras = owned_cameras(session, account, legacy.camera_ids, allow_unbound=True)
    erased = erasures(session, catalog, now, cameras, {c.id: None for c in cameras})
    end(session, now, legacy, LegacyEndReason.SUPPORT)
    record_erasure(session, account.id, now, erased)
    lock_out(account, now)
    reconcile_account(session, catalog, account.id, now)
    audit(
        session,
        now,
        actor,
        "legacy_resolve",
        account_id=account.id,
        target=str(legacy.id),
        note=note,
        data={
            "outcome": outcome.value,
            "amount": {"amount": amount.amount, "currency": amount.currency} if amount else None,
        },
    )
    return legacy
