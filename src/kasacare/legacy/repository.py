"""Every legacy query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from kasacare.billing.locks import lock_plans
from kasacare.legacy.models import LegacyCamera, LegacyStatus, LegacySubscription

#: A legacy subscription that still covers its cameras.
LEGACY_LIVE = LegacySubscription.status != LegacyStatus.ENDED
#: Built once: constructing the statement cost more than running it (clip ingest).
_COVERING_PLANS = (
    select(LegacyCamera.camera_id, LegacySubscription.plan)
    .join(LegacySubscription, LegacySubscription.id == LegacyCamera.legacy_subscription_id)
    .where(LegacyCamera.camera_id.in_(bindparam("camera_ids", expanding=True)), LEGACY_LIVE)
)


class LegacyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def live(self, account_id: uuid.UUID, *, for_update: bool = False) -> list[LegacySubscription]:
        query = (
            select(LegacySubscription)
            .options(selectinload(LegacySubscription.cameras))
            .where(
                LegacySubscription.account_id == account_id,
                LegacySubscription.status != LegacyStatus.ENDED,
            )
            .order_by(LegacySubscription.created_at, LegacySubscription.id)
        )
        if for_update:
            lock_plans(self.session)
            query = query.with_for_update()
        return list(self.session.scalars(query))

    def all_for(self, account_id: uuid.UUID) -> list[LegacySubscription]:
        return list(
            self.session.scalars(
                select(LegacySubscription)
                .options(selectinload(LegacySubscription.cameras))
                .where(LegacySubscription.account_id == account_id)
                .order_by(LegacySubscription.created_at, LegacySubscription.id)
            )
        )

    def get(self, legacy_id: uuid.UUID, *, for_update: bool = False) -> LegacySubscription | None:
        query = (
            select(LegacySubscription)
            .options(selectinload(LegacySubscription.cameras))
            .where(LegacySubscription.id == legacy_id)
        )
        if for_update:
            lock_plans(self.session)
            query = query.with_for_update()
        return self.session.scalar(query)

    def add(self, legacy: LegacySubscription, camera_ids: Sequence[uuid.UUID]) -> None:
        self.session.add(legacy)
        self.session.flush()
        for camera_id in camera_ids:
            self.session.add(LegacyCamera(legacy_subscription_id=legacy.id, camera_id=camera_id))
        self.session.flush()

    def covering_plans(self, camera_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, str]]:
        """`covering` as plain (camera, legacy plan) columns, without loading entities."""
        if not camera_ids:
            return []
        rows = self.session.execute(_COVERING_PLANS, {"camera_ids": list(camera_ids)})
        return [(camera_id, plan) for camera_id, plan in rows]

    def covering(
        self, camera_ids: Sequence[uuid.UUID]
    ) -> list[tuple[uuid.UUID, LegacySubscription]]:
        """The live legacy subscription covering each of these cameras, if any."""
        if not camera_ids:
            return []
        rows = self.session.execute(
            select(LegacyCamera.camera_id, LegacySubscription)
            .join(LegacySubscription, LegacySubscription.id == LegacyCamera.legacy_subscription_id)
            .where(
                LegacyCamera.camera_id.in_(camera_ids),
                LegacySubscription.status != LegacyStatus.ENDED,
            )
        ).all()
        return [(camera_id, legacy) for camera_id, legacy in rows]
