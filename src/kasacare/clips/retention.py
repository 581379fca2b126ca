"""Retention after a change (V3, V4, V6): every held clip of the account's cameras gets the
expiry its camera's entitlement now gives; a clip that falls outside it is erased in the
same transaction as the change (its bytes go after the commit). An upgrade lengthens the
expiry of clips still held and never brings back erased ones. Unbinding erases them all (C6).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.models import Clip
from kasacare.clips.rules import clip_expiry
from kasacare.entitlements.service import camera_entitlements


def reconcile_account(
    session: Session, catalog: Catalog, account_id: uuid.UUID, now: datetime
) -> int:
    """Bring every held clip of the account's live cameras to its camera's current window.
    Returns how many clips were erased."""
    session.flush()
    cameras = list(
        session.scalars(
            select(Camera)
            .options(joinedload(Camera.device))
            .where(Camera.account_id == account_id, Camera.unbound_at.is_(None))
        )
    )
    return reconcile(session, catalog, cameras, now)


def reconcile(session: Session, catalog: Catalog, cameras: Sequence[Camera], now: datetime) -> int:
    if not cameras:
        return 0
    entitlements = camera_entitlements(session, catalog, list(cameras), now)
    held = session.scalars(
        select(Clip).where(
            Clip.camera_id.in_([camera.id for camera in cameras]),
            Clip.erased_at.is_(None),
            Clip.deleted_at.is_(None),
            Clip.expires_at > now,
        )
    )
    erased = 0
    for clip in held:
        expiry = clip_expiry(clip.started_at, entitlements[clip.camera_id])
        if expiry <= now:
            clip.erased_at = now
            erased += 1
        elif expiry != clip.expires_at:
            clip.expires_at = expiry
    return erased


def erase_camera(session: Session, camera_id: uuid.UUID, now: datetime) -> None:
    """C6: unbinding erases all of a camera's clips, so a new owner never sees them."""
    session.execute(
        update(Clip)
        .where(Clip.camera_id == camera_id, Clip.erased_at.is_(None), Clip.deleted_at.is_(None))
        .values(erased_at=now)
    )
