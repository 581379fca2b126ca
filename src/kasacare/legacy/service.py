"""Legacy use cases (SPEC L1-L7): import by the operator, list, cancel all, the termination
that migration performs, and the one-way lock-out. They never commit.

A legacy subscription cannot be altered (L2): no camera, plan or cycle change; only cancel or
migrate, both of which end every legacy subscription of the account with a prorated refund
of what was paid for the current period to the card on file (M2), and close legacy to the
account for good (L5). One bought through an app store is not refundable (L6): cancel and
migration refuse it before anything else, and support resolves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kasacare.accounts.models import Account, Role
from kasacare.billing import addresses
from kasacare.billing import service as billing
from kasacare.billing.locks import lock_account, lock_legacy
from kasacare.billing.rules import LineDraft
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import Erasure
from kasacare.entitlements.rules import PaidCoverage
from kasacare.kit.calendar import Cycle, period_index, period_start
from kasacare.kit.errors import NotFound, ValidationFailed
from kasacare.kit.money import Money
from kasacare.kit.proration import prorate
from kasacare.legacy.errors import (
    NOT_REFUNDABLE_DETAIL,
    InvalidPeriod,
    LegacyClosed,
    LegacyNotRefundable,
)
from kasacare.legacy.models import (
    Channel,
    LegacyEndReason,
    LegacyStatus,
    LegacySubscription,
)
from kasacare.legacy.repository import LegacyRepository
from kasacare.notifications.models import Kind
from kasacare.notifications.service import notify
from kasacare.renewals.ending import Ending, apply_ending, plan_ending
from kasacare.subscriptions.errors import CameraSubscribed, PlanTypeConflict
from kasacare.subscriptions.repository import SubscriptionRepository


@dataclass(frozen=True, slots=True)
class LegacyImport:
    plan: str
    cycle: Cycle
    camera_ids: Sequence[uuid.UUID]
    price: Money
    paid: Money
    current_period_start: datetime
    current_period_end: datetime
    channel: Channel


@dataclass(frozen=True, slots=True)
class LegacyEnding:
    """One legacy subscription's end, as planned: its refund (L3, L4) and its ending."""

    legacy: LegacySubscription
    refund: Money
    ending: Ending


@dataclass(frozen=True, slots=True)
class Termination:
    """What ending the account's legacy subscriptions does: refunds and erased history."""

    endings: tuple[LegacyEnding, ...]

    @property
    def erased(self) -> tuple[Erasure, ...]:
        return tuple(erasure for item in self.endings for erasure in item.ending.erased)

    def refund_total(self, currency: str) -> Money:
        result = Money.zero(currency)
        for item in self.endings:
            result += item.refund
        return result


def import_legacy(
    session: Session, catalog: Catalog, now: datetime, account_id: uuid.UUID, data: LegacyImport
) -> LegacySubscription:
    account = SubscriptionRepository(session).lock_account(account_id)
    if account.role is not Role.OWNER:
        raise ValidationFailed("Legacy subscriptions belong to owner accounts", field="account_id")
    if account.legacy_locked:
        raise LegacyClosed(
            "This account has cancelled or migrated its legacy plans; they cannot come back"
        )
    if SubscriptionRepository(session).live(account.id) is not None:
        raise PlanTypeConflict("The account has a new Kasa Care plan; legacy cannot be added")
    legacy_plan = catalog.legacy_plans.get(data.plan)
    if legacy_plan is None:
        raise ValidationFailed(
            f"{data.plan!r} is not a legacy plan", field="plan", plans=sorted(catalog.legacy_plans)
        )
    for name, money in (("price", data.price), ("paid", data.paid)):
        if money.currency != account.currency:
            raise ValidationFailed(
                f"{name} must be in the account's {account.currency}", field=name
            )
    if data.price.amount <= 0 or not 0 <= data.paid.amount <= data.price.amount:
        raise ValidationFailed("Expected 0 < price and 0 <= paid <= price", field="paid")
    check_period(data.cycle, data.current_period_start, data.current_period_end, now)
    cameras = owned_cameras(session, account, data.camera_ids)
    check_uncovered(session, cameras)
    legacy = LegacySubscription(
        id=uuid.uuid4(),
        account_id=account.id,
        plan=legacy_plan.id,
        cycle=data.cycle,
        channel=data.channel,
        status=LegacyStatus.ACTIVE,
        currency=data.price.currency,
        price=data.price.amount,
        paid=data.paid.amount,
        refunded=0,
        anchor=data.current_period_start,
        current_period_start=data.current_period_start,
        current_period_end=data.current_period_end,
        created_at=now,
        ended_at=None,
        end_reason=None,
        dunning_since=None,
        retries_done=0,
        next_retry_at=None,
    )
    LegacyRepository(session).add(legacy, [camera.id for camera in cameras])
    reconcile_account(session, catalog, account.id, now)  # V6: held clips get its window
    return legacy


def check_period(cycle: Cycle, start: datetime, end: datetime, now: datetime) -> None:
    """A legacy period that is still running and lasts exactly one cycle (M7), or
    InvalidPeriod: a period that ended long ago would make the next job run bill every
    period since at once."""
    if end != period_start(start, cycle, 1):
        raise InvalidPeriod(
            f"A {cycle.value} period starting {start.isoformat()} ends "
            f"{period_start(start, cycle, 1).isoformat()}",
            field="current_period_end",
        )
    if end <= now:
        raise InvalidPeriod(
            "The period has already ended: import the current period", field="current_period_end"
        )


def extend_app_store(
    session: Session, now: datetime, legacy_id: uuid.UUID, new_end: datetime
) -> LegacySubscription:
    """L6: the store renewed an app-store subscription: its next period, from the current
    period's end to `new_end` (one cycle), paid through the store at its recorded price.
    Without an extension it ends at its period's end."""
    account_id = session.scalar(
        select(LegacySubscription.account_id).where(LegacySubscription.id == legacy_id)
    )
    if account_id is None:
        raise NotFound("No live legacy subscription with this id")
    lock_account(session, account_id)
    legacy = lock_legacy(session, legacy_id)
    if legacy is None or not legacy.live:
        raise NotFound("No live legacy subscription with this id")
    if legacy.channel is not Channel.APP_STORE:
        raise ValidationFailed(
            "Only app-store subscriptions are extended: direct ones renew by card",
            field="current_period_end",
        )
    following = period_index(legacy.anchor, legacy.cycle, legacy.current_period_end) + 1
    expected = period_start(legacy.anchor, legacy.cycle, following)
    if new_end != expected:
        raise InvalidPeriod(
            f"The next {legacy.cycle.value} period ends {expected.isoformat()} (M7: from the "
            "subscription's anchor)",
            field="current_period_end",
        )
    if new_end <= now:
        raise InvalidPeriod("That period has already ended", field="current_period_end")
    legacy.current_period_start, legacy.current_period_end = legacy.current_period_end, new_end
    legacy.paid, legacy.refunded = legacy.price, 0
    return legacy


def refundable_now(legacy: LegacySubscription, now: datetime) -> Money:
    """L3/L4: the unused part of what was paid for the current period, net of refunds."""
    if legacy.status is not LegacyStatus.ACTIVE or legacy.paid == 0:
        return Money.zero(legacy.currency)  # a past_due period was never paid
    paid = Money(legacy.paid, legacy.currency)
    unused = prorate(paid, legacy.current_period_start, legacy.current_period_end, now)
    return unused.min(paid - Money(legacy.refunded, legacy.currency))


def refuse_app_store(subscriptions: Sequence[LegacySubscription]) -> None:
    """L6: checked before any confirmation, so the owner learns first what blocks them."""
    if any(legacy.channel is Channel.APP_STORE for legacy in subscriptions):
        raise LegacyNotRefundable(NOT_REFUNDABLE_DETAIL)


def plan_termination(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    reason: LegacyEndReason,
    *,
    covered_after: dict[uuid.UUID, PaidCoverage] | None = None,
) -> Termination:
    """The end of every live legacy subscription of the account (locked), each with its
    prorated refund (L3, L4); an app-store one refuses it all (L6). `covered_after`:
    cameras a new plan takes over."""
    subscriptions = LegacyRepository(session).live(account.id, for_update=True)
    refuse_app_store(subscriptions)
    endings = []
    for legacy in subscriptions:
        ending = plan_ending(
            session,
            catalog,
            now,
            account,
            plan_id=legacy.id,
            cameras=owned_cameras(session, account, legacy.camera_ids, allow_unbound=True),
            end=partial(end, session, now, legacy, reason),
            covered_after=covered_after,
        )
        endings.append(LegacyEnding(legacy, refundable_now(legacy, now), ending))
    return Termination(tuple(endings))


def apply_termination(
    session: Session, catalog: Catalog, now: datetime, account: Account, termination: Termination
) -> None:
    """End them as planned: each refund to the card on file (M2), each ending; then legacy
    closes to the account (L5)."""
    for item in termination.endings:
        legacy, amount = item.legacy, item.refund
        if amount.amount > 0:
            name = catalog.legacy_plans[legacy.plan].name
            tax = addresses.treatment(session, catalog, account)
            line = LineDraft(f"Unused time on {name}", amount, now, legacy.current_period_end, tax)
            billing.refund_to_card_on_file(session, now, account, source_id=legacy.id, lines=[line])
            legacy.refunded += amount.amount
        # The caller refunds the balance once for all (M9) and gives the clips their
        # windows once all its changes are made (in a migration, the new plan's too).
        apply_ending(session, catalog, now, account, item.ending, reconcile=False)
    lock_out(account, now)


def end(
    session: Session, now: datetime, legacy: LegacySubscription, reason: LegacyEndReason
) -> None:
    legacy.status = LegacyStatus.ENDED
    legacy.ended_at = now
    legacy.end_reason = reason
    legacy.next_retry_at = None
    notify(
        session,
        legacy.account_id,
        Kind.SUBSCRIPTION_ENDED,
        now,
        {"legacy_subscription_id": str(legacy.id), "plan": legacy.plan, "reason": reason.value},
    )


def lock_out(account: Account, now: datetime) -> None:
    """L5: once cancelled or migrated, legacy never comes back for this account."""
    if account.legacy_locked_at is None:
        account.legacy_locked_at = now


def live_for(session: Session, account: Account) -> list[LegacySubscription]:
    return LegacyRepository(session).live(account.id)


def owned_cameras(
    session: Session,
    account: Account,
    camera_ids: Sequence[uuid.UUID],
    *,
    allow_unbound: bool = False,
) -> list[Camera]:
    unique = list(dict.fromkeys(camera_ids))
    if not unique and not allow_unbound:
        raise ValidationFailed(
            "A legacy subscription covers at least one camera", field="camera_ids"
        )
    query = (
        select(Camera)
        .options(joinedload(Camera.device))
        .where(Camera.id.in_(unique), Camera.account_id == account.id)
    )
    if not allow_unbound:
        query = query.where(Camera.unbound_at.is_(None))
    found = {camera.id: camera for camera in session.scalars(query)}
    missing = [cid for cid in unique if cid not in found]
    if missing and not allow_unbound:
        raise NotFound(f"No such camera: {missing[0]}")
    return [found[cid] for cid in unique if cid in found]


def check_uncovered(session: Session, cameras: Sequence[Camera]) -> None:
    """P4: a camera is covered by at most one paid plan, new or legacy."""
    ids = [camera.id for camera in cameras]
    covered = SubscriptionRepository(session).covering(ids) or LegacyRepository(session).covering(
        ids
    )
    if covered:
        raise CameraSubscribed(f"Camera {covered[0][0]} is already covered by a subscription")
