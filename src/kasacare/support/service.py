"""Support use cases: the audit log, resolving app-store legacy cases (SPEC L6), goodwill
credit within the policy's cap, and force-unbinding a resold camera. They never commit."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account, Role
from kasacare.billing import addresses
from kasacare.billing import service as billing
from kasacare.billing.charging import Planning
from kasacare.billing.locks import lock_account, lock_legacy
from kasacare.billing.models import CreditNote
from kasacare.billing.repository import BillingRepository
from kasacare.billing.rules import LineDraft
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import erase_camera, reconcile_account
from kasacare.kit.calendar import Cycle
from kasacare.kit.errors import NotFound, ValidationFailed
from kasacare.kit.money import Money, format_money
from kasacare.legacy.models import LegacyEndReason, LegacySubscription
from kasacare.legacy.repository import LegacyRepository
from kasacare.legacy.service import end, lock_out, owned_cameras
from kasacare.renewals.ending import end_paid_coverage
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.rules import SeatState
from kasacare.subscriptions.service import Subscriptions
from kasacare.support.errors import CameraCoveredByLegacy, GoodwillLimitExceeded
from kasacare.support.models import AuditEntry
from kasacare.support.repository import AuditRepository


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
    AuditRepository(session).add(
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


def search(session: Session, query: str) -> list[Account]:
    """Owners for the console's search box: an email address or its beginning (`ann@`,
    `ann.lee@exa`), or a bound camera's serial."""
    text = query.strip()
    if not text:
        return []
    repo = AuditRepository(session)
    found = [*repo.owners_by_serial(text.upper()), *repo.owners_by_email_prefix(text.lower())]
    return list({account.id: account for account in found}.values())


def actor_names(session: Session, actors: set[str]) -> dict[str, str]:
    """Each audit actor as people read it: an agent's address, or "Operator (API)"."""
    ids = {}
    for actor in actors:
        kind, _, raw_id = actor.partition(":")
        if kind == "support":
            try:
                ids[actor] = uuid.UUID(raw_id)
            except ValueError:
                continue
    emails = AuditRepository(session).emails(list(ids.values()))
    names = {actor: emails.get(agent, "a former agent") for actor, agent in ids.items()}
    return {actor: names.get(actor, "Operator (API)") for actor in actors}


def goodwill_policy(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    years: Fraction,
) -> tuple[Money, Money, Money]:
    """(the yearly cap, what was given over the last rolling year, what may still be given)."""
    cap = goodwill_cap(session, catalog, account, years)
    given = Money(
        BillingRepository(session).goodwill_since(account.id, now - GOODWILL_WINDOW), cap.currency
    )
    return cap, given, cap - given.min(cap)


def check_goodwill(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    amount: Money,
    years: Fraction,
) -> tuple[Money, Money, Money]:
    """The policy's figures (cap, given, allowed) for `amount`; GoodwillLimitExceeded when
    it is more than may still be given."""
    cap, given, allowed = goodwill_policy(session, catalog, now, account, years)
    if amount.amount > allowed.amount:
        raise GoodwillLimitExceeded(
            f"At most {format_money(allowed)} more goodwill credit for this account this "
            f"year (the policy allows {format_money(cap)} a year; "
            f"{format_money(given)} given)",
            allowed={"amount": allowed.amount, "currency": allowed.currency},
        )
    return cap, given, allowed


def check_unbindable(session: Session, camera_id: uuid.UUID) -> None:
    if LegacyRepository(session).covering([camera_id]):
        raise CameraCoveredByLegacy(
            "A legacy subscription covers this camera. Resolve the legacy case first "
            "(POST /v1/support/legacy-subscriptions/{id}/resolve), then unbind the camera",
        )


def audit_log(
    session: Session, *, account_id: uuid.UUID | None = None, limit: int = 100
) -> list[AuditEntry]:
    return AuditRepository(session).latest(account_id=account_id, limit=limit)


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
    account_id = session.scalar(
        select(LegacySubscription.account_id).where(LegacySubscription.id == legacy_id)
    )
    if account_id is None:
        raise NotFound("No live legacy subscription with this id")
    account = lock_account(session, account_id)  # the lock order: account, then legacy
    legacy = lock_legacy(session, legacy_id)
    if legacy is None or not legacy.live:
        raise NotFound("No live legacy subscription with this id")
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
        line = LineDraft(  # M8: the period the resolution is about
            f"{name}: resolved by support",
            amount,
            legacy.current_period_start,
            legacy.current_period_end,
            addresses.treatment(session, catalog, account),
        )
        if outcome is Outcome.REFUND:
            billing.refund_to_card_on_file(session, now, account, source_id=legacy.id, lines=[line])
        else:
            billing.issue_credit(session, now, account, subscription_id=None, lines=[line])
        legacy.refunded += amount.amount
    end_paid_coverage(
        session,
        catalog,
        now,
        account,
        plan_id=legacy.id,
        cameras=owned_cameras(session, account, legacy.camera_ids, allow_unbound=True),
        end=lambda: end(session, now, legacy, LegacyEndReason.SUPPORT),
    )
    lock_out(account, now)
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


#: Goodwill credit is capped over a rolling year.
GOODWILL_WINDOW = timedelta(days=365)


def goodwill_cap(session: Session, catalog: Catalog, account: Account, years: Fraction) -> Money:
    """The goodwill policy: at most `years` of the account's plan at its annual catalog
    price (its live plan and seats; a legacy plan at its recorded price per year; Plus for
    one camera without a plan), over any rolling year."""
    currency = billing.currency_of(account)
    live = SubscriptionRepository(session).live(account.id)
    if live is not None:
        plan = catalog.plans[live.plan]
        annual = plan.price(currency, Cycle.ANNUAL)
        assert annual is not None, "a live plan is sold in its currency"
        yearly = SeatState(plan, len(live.seats), annual).period_value
    else:
        legacy = LegacyRepository(session).live(account.id)
        if legacy:
            yearly = Money.zero(currency)
            for subscription in legacy:
                per_year = 12 if subscription.cycle is Cycle.MONTHLY else 1
                yearly += Money(subscription.price, currency).times(per_year)
        else:
            plus = catalog.plans["plus"].price(currency, Cycle.ANNUAL)
            yearly = plus if plus is not None else Money.zero(currency)
    return yearly.times(years)


def goodwill_credit(
    session: Session,
    catalog: Catalog,
    now: datetime,
    actor: str,
    account_id: uuid.UUID,
    amount: Money,
    note: str,
    *,
    cap_years: Fraction = Fraction(1),
) -> CreditNote:
    """A goodwill credit (a `credit` note) within the policy's cap. It pays invoices only,
    before any other credit, and is never refunded to a card, not even by a cancel (M9)."""
    account = lock_account(session, account_id)
    if account.role is not Role.OWNER:
        raise NotFound("No such owner account")
    if amount.currency != account.currency or amount.amount <= 0:
        raise ValidationFailed(
            f"A goodwill credit is a positive amount in {account.currency}", field="amount"
        )
    check_goodwill(session, catalog, now, account, amount, cap_years)
    credit = billing.issue_credit(
        session,
        now,
        account,
        subscription_id=None,
        lines=[LineDraft(f"Goodwill credit: {note}", amount)],
        goodwill=amount,
    )
    audit(
        session,
        now,
        actor,
        "goodwill_credit",
        account_id=account.id,
        target=str(credit.id),
        note=note,
        data={"amount": {"amount": amount.amount, "currency": amount.currency}},
    )
    return credit


def force_unbind(
    session: Session,
    catalog: Catalog,
    now: datetime,
    actor: str,
    camera_id: uuid.UUID,
    note: str,
) -> Camera:
    """A resold camera: taken off its account even if a new plan covers it (as the owner
    removing it: a Plus credit, or a cancel if it was the last, C1 and C3), its history
    erased (C6). A camera a legacy plan covers is refused: resolve the legacy case first."""
    found = session.scalar(
        select(Camera.account_id).where(Camera.id == camera_id, Camera.unbound_at.is_(None))
    )
    if found is None:
        raise NotFound("No such camera")
    account = lock_account(session, found)
    check_unbindable(session, camera_id)
    live = SubscriptionRepository(session).live(account.id)
    if live is not None and camera_id in live.camera_ids:
        Subscriptions(session, catalog, Planning(), now, account).remove_camera(camera_id)
    camera = session.scalar(select(Camera).where(Camera.id == camera_id))
    assert camera is not None
    camera.unbound_at = now
    erase_camera(session, camera.id, now)
    reconcile_account(session, catalog, account.id, now)
    audit(
        session,
        now,
        actor,
        "force_unbind",
        account_id=account.id,
        target=str(camera_id),
        note=note,
    )
    return camera
