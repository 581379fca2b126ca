"""The sweeper's watermark over expired clips (V2): a keyset position `(expires_at, id)` in
the one `sweep_progress` row. Every clip not erased at or before it has had its bytes deleted
(or was a V8 mismatch that raised its alert), so an expired clip's row is never written when
its bytes go, and "bytes still stored" for a clip that is not erased means "after the mark".

Why no later commit leaves an unswept clip at or before the mark: the writers of
`expires_at` are the upload (a new row) and `retention.reconcile` (re-dating held clips).
- `reconcile` locks the progress row (FOR SHARE) before it reads what is held and holds only
  clips after the mark, so it and a sweeper batch are serialized: either the batch sees the
  new expiry, or `reconcile` sees the new mark and leaves the swept clip alone.
- An upload writes `expires_at >= created_at` (V1: it starts at most a window ago), where
  `created_at` is the `now` it checked the window with. It takes no lock, so it can commit
  after a sweep has passed its key. We rely on an upload committing within `SAFETY_LAG` of its
  `now`, and on the sweeper's `now` not running ahead of the real time: then a late clip has
  `expires_at >= created_at >= mark - SAFETY_LAG` when the next run starts, and each run
  first re-scans that stretch behind the mark for clips created in it (`rescan`). The
  re-scan reads a few minutes of index and deletes only what it had not seen (deleting is
  idempotent anyway). A test clock moved forward by more than `SAFETY_LAG` while an upload is
  in flight breaks the assumption (that clip's bytes would stay; nothing is lost).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, cast

from sqlalchemy import ColumnElement, Table, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kasacare.clips.models import Clip, SweepProgress
from kasacare.kit.db import UTCDateTime

#: How late an upload may commit after the `now` it stamped; see the module's docstring.
SAFETY_LAG = timedelta(minutes=5)
PROGRESS_ID = 1
FIRST_ID = uuid.UUID(int=0)
LAST_ID = uuid.UUID(int=2**128 - 1)


class Mark(NamedTuple):
    at: datetime
    id: uuid.UUID


#: Nothing swept yet.
START = Mark(datetime(1970, 1, 1, tzinfo=UTC), FIRST_ID)


def after(mark: Mark) -> ColumnElement[bool]:
    """Clips whose key is after `mark` (a range of `ix_clips_expiry_order`)."""
    return tuple_(Clip.expires_at, Clip.id) > _key(mark)


def at_or_before(mark: Mark) -> ColumnElement[bool]:
    return tuple_(Clip.expires_at, Clip.id) <= _key(mark)


def _key(mark: Mark) -> ColumnElement[tuple[datetime, uuid.UUID]]:
    return cast(
        ColumnElement[tuple[datetime, uuid.UUID]],
        tuple_(literal(mark.at, UTCDateTime()), literal(mark.id, Clip.id.type)),
    )


def read(session: Session) -> Mark:
    """The mark without a lock: it only moves forward (but see `rewind`), so a stale one
    only makes the reader do more than it needs."""
    row = session.execute(_SELECT).one_or_none()
    return START if row is None else Mark(*row)


def lock(session: Session, *, share: bool = False) -> Mark:
    """The mark, locked until the commit: FOR UPDATE (the sweeper) or FOR SHARE (a writer of
    expiries). On SQLite every write transaction already holds the database's write lock."""
    row = session.connection().execute(_SELECT.with_for_update(read=share)).one_or_none()
    if row is not None:
        return Mark(*row)
    table = cast(Table, SweepProgress.__table__)
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(table)
        .values(id=PROGRESS_ID, expired_through_at=START.at, expired_through_id=START.id)
        .on_conflict_do_nothing(index_elements=[table.c.id])
    )
    return Mark(*session.execute(_SELECT.with_for_update(read=share)).one())


def advance(session: Session, mark: Mark) -> None:
    """Move the (locked) mark; the caller holds it with `lock`. (Core: no ORM bookkeeping
    for a statement the sweeper runs once a batch.)"""
    table = cast(Table, SweepProgress.__table__)
    session.connection().execute(
        update(table)
        .where(table.c.id == PROGRESS_ID)
        .values(expired_through_at=mark.at, expired_through_id=mark.id)
    )


def rescan_from(mark: Mark) -> Mark:
    """Where a run starts: `SAFETY_LAG` behind the mark (see the module's docstring)."""
    return Mark(mark.at - SAFETY_LAG, FIRST_ID)


def rewind(session: Session, mark: Mark, now: datetime) -> Mark:
    """The clock is behind the mark (a test clock set back): clips at or before the mark
    that now look unexpired have no bytes, so record them as erased and deleted (they stay
    unavailable, and no change re-dates them); then the mark can go back to `now`, since every
    clip expired by `now` is at or before the old mark. New clips land after it again."""
    session.execute(
        update(Clip)
        .where(Clip.erased_at.is_(None), Clip.expires_at > now, at_or_before(mark))
        .values(erased_at=now, deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    rewound = Mark(now, LAST_ID)
    advance(session, rewound)
    return rewound


_SELECT = select(SweepProgress.expired_through_at, SweepProgress.expired_through_id).where(
    SweepProgress.id == PROGRESS_ID
)
