"""The sweeper (V2, V3, V8): deletes the bytes of clips that expired or were erased, in
batches of at most 1,000 (one storage `delete_many` each), so its cost follows what expired
and not what is stored.

- Erased clips (few: a change or an unbinding erased them) are read through
  `ix_clips_pending_erasure` with FOR UPDATE SKIP LOCKED and marked `deleted_at`.
- Expired clips are walked in `(expires_at, id)` order from the watermark (`watermark.py`)
  under a lock on the progress row; their rows are not written, only the watermark moves.
  Before deleting an expired clip the sweeper re-checks the camera's current entitlement: a
  clip the camera should still hold is a mismatch, deletes nothing, and raises an alert (an
  error log line and an audit entry `sweeper_mismatch`), once; the watermark passes it.
- A clip's thumbnail (`clips.thumbnails`) goes in the same `delete_many` as its bytes: it is
  erased and expires with its clip, by every path (issue 11).
- A batch whose bytes the storage refuses is tried again key by key: the others are deleted
  and recorded, and each refused clip is left for the next run (an expired one joins the
  erased queue, so the watermark still moves on), logged with its id; one bad key never
  stops the sweeper.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Dialect, Executable, String, cast, select, type_coerce, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips import watermark
from kasacare.clips.models import Clip
from kasacare.clips.rules import clip_expiry
from kasacare.clips.storage import ClipStorage
from kasacare.clips.watermark import SAFETY_LAG, Mark
from kasacare.entitlements.rules import Entitlement
from kasacare.entitlements.service import camera_entitlements
from kasacare.kit.db import UTCDateTime, session_scope
from kasacare.support.models import AuditEntry
from kasacare.support.service import audit

log = logging.getLogger("kasacare.alerts")
MISMATCH = "sweeper_mismatch"

#: Clips per transaction: one S3 DeleteObjects call (at most 1,000 keys) per batch (two when
#: the clips have thumbnails), and few enough that a batch holds SQLite's write lock for tens
#: of milliseconds.
BATCH = 1000


@dataclass(slots=True)
class SweepResult:
    deleted: int = 0
    mismatches: int = 0


#: A uuid column read as text (SQLite: 32 hex digits, PostgreSQL: with dashes): making and
#: hashing two `UUID` objects a row cost the sweeper more than unlinking the file.
RawId = str


def _uuid(raw: RawId) -> uuid.UUID:
    return uuid.UUID(raw)


class Candidate(NamedTuple):
    """What the sweeper reads of a clip: plain columns, not ORM objects (a batch of entities
    cost more than the deletes themselves)."""

    id: RawId
    camera_id: RawId
    started_at: datetime
    expires_at: datetime
    storage_key: str
    thumbnail_key: str | None

    @property
    def key(self) -> Mark:
        return Mark(self.expires_at, _uuid(self.id))

    @property
    def keys(self) -> list[str]:
        """What the clip stores: its bytes and its thumbnail, if it has one."""
        if self.thumbnail_key is None:
            return [self.storage_key]
        return [self.storage_key, self.thumbnail_key]


class _PlainDateTime(UTCDateTime):
    """`UTCDateTime`, except that PostgreSQL's aware datetimes come as the driver made them
    (in the session's zone: they compare and bind the same, and converting two a row cost
    more than the comparisons)."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)


_CANDIDATE = select(
    cast(Clip.id, String()),
    cast(Clip.camera_id, String()),
    type_coerce(Clip.started_at, _PlainDateTime()),
    type_coerce(Clip.expires_at, _PlainDateTime()),
    Clip.storage_key,
    Clip.thumbnail_key,
)


@dataclass(slots=True)
class _Cameras:
    """Each camera's entitlement at the run's `now` (None: no such camera) and account,
    resolved once a run: a change committed meanwhile reaches the clips themselves, since
    `reconcile` erases or re-dates them under the watermark's lock, so no later batch reads
    one of them as expired under the old window."""

    entitlements: dict[RawId, Entitlement | None] = field(default_factory=dict)
    accounts: dict[RawId, uuid.UUID] = field(default_factory=dict)
    #: The camera keeps the clips that started after this instant (None: it keeps none):
    #: `clip_expiry(started_at) > now` exactly when `started_at > now - window`, since the
    #: free plan's cap on it is after `now` whenever the free plan records at all.
    keeps_after: dict[RawId, datetime | None] = field(default_factory=dict)


def sweep(
    sessions: sessionmaker[Session],
    storage: ClipStorage,
    catalog: Catalog,
    now: datetime,
    *,
    batch: int = BATCH,
) -> SweepResult:
    result = SweepResult()
    cameras = _Cameras()
    cursor: Mark | None = None  # the last expired clip this run read
    more_erased = True  # clips erased while this run goes wait for the next run
    refused: set[RawId] = set()  # clips whose bytes the storage refused in this run
    while True:
        with session_scope(sessions) as session:
            _no_flush_wait(session)
            erased = _erased(session, batch, refused) if more_erased else []
            more_erased = len(erased) == batch
            expired: list[Candidate] = []
            doomed: list[Candidate] = []
            if len(erased) < batch:
                mark = _mark(session, now)
                # A run starts SAFETY_LAG behind the mark (late uploads, see watermark.py);
                # later batches go on from the last clip read, or from SAFETY_LAG behind
                # where another sweeper got to meanwhile.
                start = max(cursor or watermark.START, watermark.rescan_from(mark))
                expired = _expired(session, now, start, mark, batch - len(erased))
                doomed = _recheck(session, catalog, cameras, expired, mark, now, result)
            failed = _delete(storage, erased + doomed)
            refused |= failed
            if failed:
                # Expired clips whose bytes stay: the erased queue retries them next run.
                _to_erased_queue(session, [c for c in doomed if c.id in failed], now)
            deleted = [clip for clip in erased if clip.id not in failed]
            if deleted:
                session.execute(
                    update(Clip)
                    .where(Clip.id.in_([_uuid(c.id) for c in deleted]))
                    .values(deleted_at=now)
                    # No clip entity is loaded, so there is nothing to synchronize (the default
                    # matched every id against every object in the session: quadratic).
                    .execution_options(synchronize_session=False)
                )
            if expired:
                cursor = expired[-1].key
                if cursor > mark:
                    watermark.advance(session, cursor)
            result.deleted += len(erased) + len(doomed) - len(failed)
        if len(erased) + len(expired) < batch:
            return result


def _delete(storage: ClipStorage, clips: list[Candidate]) -> set[RawId]:
    """Delete the clips' bytes; the ids of those the storage refused (empty when all went).
    A refused batch is tried again key by key, so one bad key keeps only itself."""
    if not clips:
        return set()
    try:
        storage.delete_many([key for clip in clips for key in clip.keys])
        return set()
    except Exception:
        log.exception("sweeper: the storage refused a batch of %d clips; one by one", len(clips))
    failed = set()
    for clip in clips:
        try:
            storage.delete_many(clip.keys)
        except Exception:
            log.exception(
                "sweeper: clip %s (%s) not deleted; next run retries", clip.id, clip.storage_key
            )
            failed.add(clip.id)
    return failed


def _to_erased_queue(session: Session, clips: list[Candidate], now: datetime) -> None:
    """Expired clips whose bytes could not be deleted: no longer playable (they expired) and
    now in the erased queue, which the next run reads first, so the watermark may pass."""
    if clips:
        session.execute(
            update(Clip)
            .where(Clip.id.in_([_uuid(c.id) for c in clips]), Clip.erased_at.is_(None))
            .values(erased_at=now)
            .execution_options(synchronize_session=False)
        )


def _no_flush_wait(session: Session) -> None:
    """On PostgreSQL a batch does not wait for its commit to reach the disk: everything it
    records (the watermark, `deleted_at`, an alert's audit entry) is redone by the next run
    if a crash loses it, since deleting bytes again is harmless and a mismatch is re-checked.
    (SQLite sets durability per connection, not per transaction: left as it is.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql("SET LOCAL synchronous_commit = off")


def _erased(session: Session, limit: int, refused: set[RawId]) -> list[Candidate]:
    query = _CANDIDATE.where(Clip.deleted_at.is_(None), Clip.erased_at.is_not(None))
    if refused:  # tried in this run already: the next run tries them again
        query = query.where(Clip.id.notin_([_uuid(raw) for raw in refused]))
    return _rows(
        session,
        query.order_by(Clip.erased_at).limit(limit).with_for_update(skip_locked=True),
    )


def _mark(session: Session, now: datetime) -> Mark:
    """The watermark, locked for this batch (sweepers take turns)."""
    mark = watermark.lock(session)
    if now < mark.at:
        logging.getLogger(__name__).warning(
            "the clock (%s) is behind the sweeper's watermark (%s): rewinding it",
            now.isoformat(),
            mark.at.isoformat(),
        )
        mark = watermark.rewind(session, mark, now)
    return mark


def _expired(
    session: Session, now: datetime, start: Mark, mark: Mark, limit: int
) -> list[Candidate]:
    """The next expired clips after `start` in key order; behind the mark only those created
    within SAFETY_LAG of it (the others were swept already)."""
    late = (
        [] if start >= mark else [watermark.after(mark) | (Clip.created_at >= mark.at - SAFETY_LAG)]
    )
    return _rows(
        session,
        _CANDIDATE.where(
            Clip.erased_at.is_(None),
            watermark.after(start),
            Clip.expires_at <= now,
            # Swept one by one before the watermark existed (migration 0010).
            Clip.deleted_at.is_(None),
            *late,
        )
        .order_by(Clip.expires_at, Clip.id)
        .limit(limit),
    )


def _rows(session: Session, query: Executable) -> list[Candidate]:
    # Core, not the ORM's execution, and one fetch: columns need no per-row result machinery.
    return [Candidate._make(row) for row in session.connection().execute(query).all()]


def _recheck(
    session: Session,
    catalog: Catalog,
    cameras: _Cameras,
    expired: list[Candidate],
    mark: Mark,
    now: datetime,
    result: SweepResult,
) -> list[Candidate]:
    """V8: an expired clip is deleted only if its camera's current entitlement agrees."""
    _resolve(session, catalog, cameras, {clip.camera_id for clip in expired}, now)
    doomed = []
    kept: list[tuple[Candidate, datetime]] = []
    keeps_after = cameras.keeps_after
    for clip in expired:
        after = keeps_after[clip.camera_id]
        if after is not None and clip.started_at > after:
            entitlement = cameras.entitlements[clip.camera_id]
            assert entitlement is not None
            kept.append((clip, clip_expiry(clip.started_at, entitlement)))
        else:
            doomed.append(clip)
    # A clip re-read behind the mark may have raised its alert in an earlier run: once is
    # enough (the watermark passes a mismatch, so it is not retried forever either).
    rescanned = [str(_uuid(clip.id)) for clip, _ in kept if clip.key <= mark]
    accounts = {cameras.accounts[clip.camera_id] for clip, _ in kept}
    alerted = _alerted(session, rescanned, accounts) if rescanned else set()
    for clip, keep_until in kept:
        clip_id = str(_uuid(clip.id))
        if clip_id in alerted:
            continue
        result.mismatches += 1
        log.error(
            "sweeper mismatch: clip %s of camera %s expired at %s but its camera keeps it "
            "until %s; not deleted",
            clip_id,
            _uuid(clip.camera_id),
            clip.expires_at.isoformat(),
            keep_until.isoformat(),
        )
        audit(
            session,
            now,
            "sweeper",
            MISMATCH,
            account_id=cameras.accounts[clip.camera_id],
            target=clip_id,
            note="expired clip still inside its camera's window: kept",
            data={"expires_at": clip.expires_at.isoformat(), "keep_until": keep_until.isoformat()},
        )
    return doomed


def _resolve(
    session: Session, catalog: Catalog, cameras: _Cameras, wanted: set[RawId], now: datetime
) -> None:
    """Entitlements of the cameras this run has not met yet."""
    missing = {_uuid(raw): raw for raw in wanted - cameras.entitlements.keys()}
    if not missing:
        return
    loaded = list(
        session.scalars(
            select(Camera).options(joinedload(Camera.device)).where(Camera.id.in_(missing))
        )
    )
    entitlements = camera_entitlements(session, catalog, loaded, now)
    for camera in loaded:
        cameras.accounts[missing[camera.id]] = camera.account_id
    for camera_id, raw in missing.items():
        entitlement = cameras.entitlements[raw] = entitlements.get(camera_id)
        cameras.keeps_after[raw] = (
            now - entitlement.window if entitlement and entitlement.cloud_recording else None
        )


def _alerted(session: Session, clip_ids: list[str], account_ids: set[uuid.UUID]) -> set[str]:
    """Which of these clips already raised a mismatch alert (by account: an indexed column)."""
    return set(
        session.scalars(
            select(AuditEntry.target).where(
                AuditEntry.account_id.in_(account_ids),
                AuditEntry.action == MISMATCH,
                AuditEntry.target.in_(clip_ids),
            )
        )
    )
