"""Every subscription query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import Session, selectinload

from kasacare.accounts.models import Account
from kasacare.billing.locks import lock_account
from kasacare.subscriptions.models import PlanId, Status, Subscription, SubscriptionCamera


class CoveringPlan(NamedTuple):
    camera_id: uuid.UUID
    plan: PlanId
    status: Status


#: A seat still held, on a subscription still live: what covers a camera (P4).
SEAT_HELD = SubscriptionCamera.removed_at.is_(None)
SUBSCRIPTION_LIVE = and_(Subscription.ended_at.is_(None), Subscription.status != Status.ENDED)
_LIVE_SEATS = (SEAT_HELD, SUBSCRIPTION_LIVE)
#: Built once: constructing the statement cost more than running it (clip ingest).
_COVERING_PLANS = (
    select(SubscriptionCamera.camera_id, Subscription.plan, Subscription.status)
    .join(Subscription, Subscription.id == SubscriptionCamera.subscription_id)
    .where(SubscriptionCamera.camera_id.in_(bindparam("camera_ids", expanding=True)), *_LIVE_SEATS)
)


class SubscriptionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_account(self, account_id: uuid.UUID) -> Account:
        """Serialise an account's billing use cases (the lock order: `billing.locks`)."""
        return lock_account(self.session, account_id)

    def live(self, account_id: uuid.UUID) -> Subscription | None:
        return self.session.scalar(
            select(Subscription)
            .options(selectinload(Subscription.seats))
            .where(Subscription.account_id == account_id, Subscription.ended_at.is_(None))
        )

    def add(self, subscription: Subscription) -> Subscription:
        self.session.add(subscription)
        self.session.flush()
        return subscription

    def add_seat(self, subscription_id: uuid.UUID, camera_id: uuid.UUID, now: datetime) -> None:
        self.session.add(
            SubscriptionCamera(
                subscription_id=subscription_id, camera_id=camera_id, added_at=now, removed_at=None
            )
        )
        self.session.flush()

    def remove_seats(
        self, subscription_id: uuid.UUID, camera_ids: Sequence[uuid.UUID], now: datetime
    ) -> None:
        self.session.execute(
            update(SubscriptionCamera)
            .where(
                SubscriptionCamera.subscription_id == subscription_id,
                SubscriptionCamera.camera_id.in_(camera_ids),
                SubscriptionCamera.removed_at.is_(None),
            )
            .values(removed_at=now)
        )

    def refresh_seats(self, subscription: Subscription) -> Subscription:
        self.session.flush()
        self.session.expire(subscription, ["seats"])
        fresh = self.session.scalar(
            select(Subscription)
            .options(selectinload(Subscription.seats))
            .where(Subscription.id == subscription.id)
            .execution_options(populate_existing=True)
        )
        assert fresh is not None
        return fresh

    def covering_plans(self, camera_ids: Sequence[uuid.UUID]) -> list[CoveringPlan]:
        """`covering` as plain columns (camera, plan, status), without loading entities:
        what every entitlement needs, on hot paths such as clip ingest."""
        if not camera_ids:
            return []
        return [
            CoveringPlan(*row)
            for row in self.session.execute(_COVERING_PLANS, {"camera_ids": list(camera_ids)})
        ]

    def covering(self, camera_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, Subscription]]:
        """The live subscription covering each of these cameras, if any."""
        if not camera_ids:
            return []
        rows = self.session.execute(
            select(SubscriptionCamera.camera_id, Subscription)
            .join(Subscription, Subscription.id == SubscriptionCamera.subscription_id)
            .where(SubscriptionCamera.camera_id.in_(camera_ids), *_LIVE_SEATS)
        ).all()
        return [(camera_id, subscription) for camera_id, subscription in rows]
