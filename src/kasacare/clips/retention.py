"""Retention after a change (V3, V4, V6): every held clip of the account's cameras gets the
expiry its camera's entitlement now gives; a clip that falls outside it is erased in the
same transaction as the change (its bytes go after the commit). An upgrade lengthens the
expiry of clips still held and never brings back erased ones. Unbinding erases them all (C6).

A clip that is not erased still has its bytes while it is after the sweeper's watermark
(`watermark.py`) and has no `deleted_at` (set only by erasure, and on clips swept before the
watermark existed); the statements here touch only those, so their cost does not grow with
the camera's whole past.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, bindparam, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips import watermark
from kasacare.clips.coverage_lock import lock_cameras
from kasacare.clips.models import Clip
from kasacare.clips.rules import clip_expiry
from kasacare.clips.watermark import Mark
from kasacare.devices.entitlement_push import push_changed, push_unbound
from kasacare.entitlements.rules import Entitlement
from kasacare.entitlements.service import camera_entitlements


def reconcile_account(
    session: Session, catalog: Catalog, account_id: uuid.UUID, now: datetime
) -> int:
    """Bring every held clip of the account's live cameras to its camera's current window,
    and tell each camera whose entitlement changed (`devices.entitlement_push`, issue 12
    item 4: every plan change ends here). Returns how many clips were erased."""
    session.flush()
    cameras = list(
        session.scalars(
            select(Camera)
            .options(joinedload(Camera.device))
            .where(Camera.account_id == account_id, Camera.unbound_at.is_(None))
        )
    )
    erased = reconcile(session, catalog, cameras, now)
    push_changed(session, catalog, cameras, now)
    return erased


def reconcile(session: Session, catalog: Catalog, cameras: Sequence[Camera], now: datetime) -> int:
    """Set-based, so a change costs statements per window, not per clip: one UPDATE erases
    what each window no longer holds, and only the clips still held are read (as columns) to
    get their new expiry."""
    if not cameras:
        return 0
    # Serialized with upload groups (`coverage_lock`): a group that inserts clips of these
    # cameras commits before this reads them, or reads the coverage this change commits.
    lock_cameras(session.connection(), [camera.id for camera in cameras], shared=False)
    # Serialized with the sweeper's batches (FOR SHARE on PostgreSQL; SQLite has one writer):
    # a clip it swept is after no mark we read, so it is never re-dated here, and a clip we
    # re-date is seen with its new expiry by the next batch (watermark.py).
    mark = watermark.lock(session, share=True)
    entitlements = camera_entitlements(session, catalog, list(cameras), now)
    # Clips that already aged out stay out for good (V4), even if the window now grows: mark
    # them erased as of their expiry, so no upgrade lengthens them and the sweeper's V8
    # re-check does not mistake them for clips the camera still keeps. Those further behind
    # the watermark than the sweeper re-reads (SAFETY_LAG) have no bytes left and are never
    # re-checked: they are left alone, so this costs minutes of clips, not the camera's past.
    session.execute(
        update(Clip)
        .where(
            Clip.camera_id.in_([camera.id for camera in cameras]),
            Clip.erased_at.is_(None),
            Clip.deleted_at.is_(None),
            Clip.expires_at <= now,
            watermark.after(watermark.rescan_from(mark)),
        )
        .values(erased_at=Clip.expires_at)
    )
    by_cutoff: dict[datetime | None, list[uuid.UUID]] = defaultdict(list)
    for camera in cameras:
        by_cutoff[_erase_from(entitlements[camera.id], now)].append(camera.id)
    erased = 0
    for cutoff, camera_ids in by_cutoff.items():
        outside = [] if cutoff is None else [Clip.started_at <= cutoff]
        result = session.execute(
            update(Clip).where(*_held(camera_ids, now, mark), *outside).values(erased_at=now)
        )
        erased += cast(CursorResult[Any], result).rowcount
    changed = {
        clip_id: expiry
        for clip_id, camera_id, started_at, expires_at in session.execute(
            select(Clip.id, Clip.camera_id, Clip.started_at, Clip.expires_at).where(
                *_held([camera.id for camera in cameras], now, mark)
            )
        )
        for expiry in (clip_expiry(started_at, entitlements[camera_id]),)
        if expiry != expires_at
    }
    if changed:
        table = cast(Table, Clip.__table__)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("clip_id"))
            .values(expires_at=bindparam("expiry")),
            [{"clip_id": clip_id, "expiry": expiry} for clip_id, expiry in changed.items()],
        )
        for loaded in list(session.identity_map.values()):  # keep loaded clips truthful
            if isinstance(loaded, Clip) and loaded.id in changed:
                set_committed_value(loaded, "expires_at", changed[loaded.id])
    return erased


def _held(
    camera_ids: list[uuid.UUID], now: datetime, mark: Mark
) -> tuple[ColumnElement[bool], ...]:
    """Clips of these cameras still stored and not expired. After the mark too: the same
    unless a sweeper with a later `now` than ours already took the clip (watermark.py)."""
    return (
        Clip.camera_id.in_(camera_ids),
        Clip.erased_at.is_(None),
        Clip.deleted_at.is_(None),
        Clip.expires_at > now,
        watermark.after(mark),
    )


def _erase_from(entitlement: Entitlement, now: datetime) -> datetime | None:
    """Held clips that started at or before this instant leave the window now, i.e. those
    whose `clip_expiry` is not after `now`; None: every held clip, when the camera has no
    cloud recording left (even a clip that starts a few seconds ahead, V1's skew)."""
    if not entitlement.cloud_recording:
        return None
    return now - entitlement.window


def erase_camera(session: Session, camera_id: uuid.UUID, now: datetime) -> None:
    """C6: unbinding erases all of a camera's clips, so a new owner never sees them. Those
    further behind the sweeper's watermark than it re-reads have no bytes left (a stale mark
    only erases more)."""
    lock_cameras(session.connection(), [camera_id], shared=False)  # as `reconcile`
    push_unbound(session, camera_id, now)  # every unbinding ends here (issue 12 item 4)
    session.execute(
        update(Clip)
        .where(
            Clip.camera_id == camera_id,
            Clip.erased_at.is_(None),
            Clip.deleted_at.is_(None),
            watermark.after(watermark.rescan_from(watermark.read(session))),
        )
        .values(erased_at=now)
    )
