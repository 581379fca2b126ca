"""Erasure (SPEC C4, V3): which history a change takes away, and telling the owner of it.

A camera whose window shrinks loses the clips that started before `now - new window`. The
clips domain erases them in the same transaction as the change; until clips land, the
quote and the `history_erased` notification say what goes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.entitlements.rules import PaidCoverage, resolve_entitlement
from kasacare.entitlements.service import camera_entitlements
from kasacare.notifications.models import Kind
from kasacare.notifications.service import notify


@dataclass(frozen=True, slots=True)
class Erasure:
    """Clips of this camera that started before `before` will be erased."""

    camera_id: uuid.UUID
    before: datetime


def erasures(
    session: Session,
    catalog: Catalog,
    now: datetime,
    cameras: list[Camera],
    after: dict[uuid.UUID, PaidCoverage | None],
) -> list[Erasure]:
    """Cameras whose window shrinks when their coverage becomes `after`, and from when."""
    before = camera_entitlements(session, catalog, cameras, now)
    erased = []
    for camera in cameras:
        model = catalog.models[camera.device.model]
        new = resolve_entitlement(model, camera.device.setup_at, after[camera.id], now)
        if new.history_hours < before[camera.id].history_hours:
            erased.append(Erasure(camera.id, now - new.window))
    return erased


def record_erasure(
    session: Session, account_id: uuid.UUID, now: datetime, erased: list[Erasure]
) -> None:
    """Tell the owner which history a change erased (`history_erased`)."""
    if erased:
        notify(
            session,
            account_id,
            Kind.HISTORY_ERASED,
            now,
            {
                "cameras": [
                    {"camera_id": str(e.camera_id), "before": _iso(e.before)} for e in erased
                ]
            },
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
