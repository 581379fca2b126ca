"""The sweeper (V2, V3, V8): deletes the bytes of clips that expired or were erased, in
batches, reading only those rows (partial indexes), so its cost follows what expired and not
what is stored. Before deleting an expired clip it re-checks the camera's current
entitlement: a clip the camera should still hold is a mismatch, deletes nothing, and raises
an alert (an error log line and an audit entry `sweeper_mismatch`)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Executable, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.models import Clip
from kasacare.clips.rules import clip_expiry
from kasacare.clips.storage import ClipStorage
from kasacare.entitlements.service import camera_entitlements
from kasacare.kit.db import session_scope
from kasacare.support.service import audit

log = logging.getLogger("kasacare.alerts")

#: Clips per transaction: one S3 DeleteObjects call (at most 1,000 keys) per batch, and few
#: enough that a batch holds SQLite's write lock for tens of milliseconds.
BATCH = 1000


@dataclass(slots=True)
class SweepResult:
    deleted: int = 0
    mismatches: int = 0


class Candidate(NamedTuple):
    """What the sweeper reads of a clip: plain columns, not ORM objects (a batch of entities
    cost more than the deletes themselves)."""

    id: uuid.UUID
    camera_id: uuid.UUID
    started_at: datetime
    expires_at: datetime
    erased_at: datetime | None
    storage_key: str


_CANDIDATE = select(
    Clip.id, Clip.camera_id, Clip.started_at, Clip.expires_at, Clip.erased_at, Clip.storage_key
)


def sweep(
    sessions: sessionmaker[Session],
    storage: ClipStorage,
    catalog: Catalog,
    now: datetime,
    *,
    batch: int = BATCH,
) -> SweepResult:
    result = SweepResult()
    while True:
        with session_scope(sessions) as session:
            candidates = _candidates(session, now, batch)
            if not candidates:
                return result
            doomed = _recheck(session, catalog, candidates, now, result)
            if doomed:
                storage.delete_many([clip.storage_key for clip in doomed])
                session.execute(
                    update(Clip)
                    .where(Clip.id.in_([c.id for c in doomed]))
                    .values(deleted_at=now)
                    # No clip entity is loaded, so there is nothing to synchronize (the default
                    # matched every id against every object in the session: quadratic).
                    .execution_options(synchronize_session=False)
                )
            result.deleted += len(doomed)
        if len(candidates) < batch or not doomed:
            return result


def _candidates(session: Session, now: datetime, batch: int) -> list[Candidate]:
    erased = _rows(
        session,
        _CANDIDATE.where(Clip.deleted_at.is_(None), Clip.erased_at.is_not(None))
        .order_by(Clip.erased_at)
        .limit(batch)
        .with_for_update(skip_locked=True),
    )
    expired = (
        _rows(
            session,
            _CANDIDATE.where(
                Clip.deleted_at.is_(None), Clip.expires_at <= now, Clip.erased_at.is_(None)
            )
            .order_by(Clip.expires_at)
            .limit(batch - len(erased))
            .with_for_update(skip_locked=True),
        )
        if len(erased) < batch
        else []
    )
    return erased + expired


def _rows(session: Session, query: Executable) -> list[Candidate]:
    return [Candidate(*row) for row in session.execute(query)]


def _recheck(
    session: Session,
    catalog: Catalog,
    candidates: list[Candidate],
    now: datetime,
    result: SweepResult,
) -> list[Candidate]:
    """V8: an expired clip is deleted only if its camera's current entitlement agrees."""
    expired = [clip for clip in candidates if clip.erased_at is None]
    camera_ids = {clip.camera_id for clip in expired}
    cameras = (
        list(
            session.scalars(
                select(Camera).options(joinedload(Camera.device)).where(Camera.id.in_(camera_ids))
            )
        )
        if camera_ids
        else []
    )
    entitlements = camera_entitlements(session, catalog, cameras, now)
    accounts = {camera.id: camera.account_id for camera in cameras}
    doomed = [clip for clip in candidates if clip.erased_at is not None]
    for clip in expired:
        entitlement = entitlements.get(clip.camera_id)
        keep_until = clip_expiry(clip.started_at, entitlement) if entitlement else None
        if (
            keep_until is not None
            and entitlement is not None
            and entitlement.cloud_recording
            and (keep_until > now)
        ):
            result.mismatches += 1
            log.error(
                "sweeper mismatch: clip %s of camera %s expired at %s but its camera keeps it "
                "until %s; not deleted",
                clip.id,
                clip.camera_id,
                clip.expires_at.isoformat(),
                keep_until.isoformat(),
            )
            audit(
                session,
                now,
                "sweeper",
                "sweeper_mismatch",
                account_id=accounts.get(clip.camera_id),
                target=str(clip.id),
                note="expired clip still inside its camera's window: kept",
                data={
                    "expires_at": clip.expires_at.isoformat(),
                    "keep_until": keep_until.isoformat(),
                },
            )
            continue
        doomed.append(clip)
    return doomed
