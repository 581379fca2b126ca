"""The media job (issue 11, item 3): reads each new clip's file with PyAV (`clips.probe`) and
records its real duration, video codec and resolution; a clip whose camera sent no thumbnail
gets a poster frame (JPEG) stored beside it (`clips.thumbnails`).

Pending clips are those not probed yet (`media_probed_at IS NULL`, the partial index
`ix_clips_media_pending`), oldest first. Each clip is its own unit: read (no transaction open
while the file is decoded), then one short transaction records the result. A clip that
cannot be read is logged with its id and recorded (`media_error`, `media_probed_at`), so a
broken file is tried once, not at every run; a clip that expired before its turn leaves the
queue with no file read.

Thumbnails follow their clip (V4): the result is recorded only while the clip is still
available (`erased_at IS NULL`, `expires_at` after the instant of the write, read from the
clock then). The sweeper deletes a clip's thumbnail with its bytes when it reads the
clip's row; if the clip went (erased, expired) between the read and the record, nothing is
recorded and this job deletes the poster it wrote, so no file outlives its clip.

Several processes may run the job: two that read the same clip at once do the work twice
and write the same key (`thumbnail_key_for`); the first record wins, and the other keeps
the poster the row now names.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from kasacare.clips.models import Clip
from kasacare.clips.probe import Inspection, MediaUnreadable, inspect
from kasacare.clips.rules import available
from kasacare.clips.storage import ClipStorage
from kasacare.clips.thumbnails import THUMBNAIL_TYPE, thumbnail_key_for
from kasacare.kit.db import session_scope

log = logging.getLogger("kasacare.media")

#: Clips read per page of the pending queue.
PAGE = 50
#: Clips one run reads at most: the next tick goes on (a run stays short beside the others).
MAX_PER_RUN = 500
#: `media_error` is a String(200).
_MAX_ERROR = 200
EXPIRED_UNREAD = "expired before it was read"


@dataclass(slots=True)
class MediaResult:
    probed: int = 0  # read and recorded
    posters: int = 0  # of which a poster was extracted and stored
    failed: int = 0  # could not be read: recorded in `media_error`
    gone: int = 0  # erased or expired before it was recorded


class _Pending(NamedTuple):
    id: uuid.UUID
    storage_key: str
    thumbnail_key: str | None
    created_at: datetime


_PENDING = select(Clip.id, Clip.storage_key, Clip.thumbnail_key, Clip.created_at).where(
    Clip.media_probed_at.is_(None), Clip.erased_at.is_(None)
)


def probe_new_clips(
    sessions: sessionmaker[Session],
    storage: ClipStorage,
    clock: Callable[[], datetime],
    *,
    limit: int = MAX_PER_RUN,
) -> MediaResult:
    """Read the clips not probed yet, oldest first, at most `limit` of them."""
    result = MediaResult()
    with session_scope(sessions) as session:
        result.gone += _retire_expired(session, clock())
    after: tuple[datetime, uuid.UUID] | None = None
    done = 0
    while done < limit:
        size = min(PAGE, limit - done)
        with session_scope(sessions) as session:
            page = _page(session, clock(), after, size)
        for clip in page:
            _probe(sessions, storage, clock, clip, result)
        done += len(page)
        if len(page) < size:
            break
        after = (page[-1].created_at, page[-1].id)
    return result


def _retire_expired(session: Session, now: datetime) -> int:
    """Pending clips that expired unread leave the queue (their bytes are the sweeper's)."""
    retired = session.execute(
        update(Clip)
        .where(Clip.media_probed_at.is_(None), Clip.erased_at.is_(None), Clip.expires_at <= now)
        .values(media_probed_at=now, media_error=EXPIRED_UNREAD)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], retired).rowcount


def _page(
    session: Session, now: datetime, after: tuple[datetime, uuid.UUID] | None, size: int
) -> list[_Pending]:
    query = _PENDING.where(Clip.expires_at > now)
    if after is not None:
        at, clip_id = after
        query = query.where(
            (Clip.created_at > at) | ((Clip.created_at == at) & (Clip.id > clip_id))
        )
    rows = session.execute(query.order_by(Clip.created_at, Clip.id).limit(size))
    return [_Pending._make(row) for row in rows]


def _probe(
    sessions: sessionmaker[Session],
    storage: ClipStorage,
    clock: Callable[[], datetime],
    clip: _Pending,
    result: MediaResult,
) -> None:
    """One clip, isolated: whatever fails is logged with its id and recorded."""
    poster_key: str | None = None
    try:
        try:
            inspection = inspect(
                _source(storage, clip.storage_key), poster=clip.thumbnail_key is None
            )
            if inspection.poster is not None:
                poster_key = thumbnail_key_for(clip.storage_key)
                storage.put(poster_key, inspection.poster, THUMBNAIL_TYPE)
            if _record(sessions, clock, clip.id, _found(inspection, poster_key)):
                result.probed += 1
                result.posters += poster_key is not None
                return
        except Exception as error:
            if isinstance(error, MediaUnreadable):
                log.warning("media job: clip %s is not a readable video: %s", clip.id, error)
            else:
                log.exception("media job: clip %s could not be read", clip.id)
            message = f"{type(error).__name__}: {error}"[:_MAX_ERROR]
            recorded = _record(sessions, clock, clip.id, {"media_error": message})
            result.failed += recorded
            result.gone += not recorded
        else:
            result.gone += 1
        # Not recorded as this clip's thumbnail: a poster written must not outlive it.
        if poster_key is not None and not _names(sessions, clock, clip.id, poster_key):
            storage.delete_many([poster_key])
    except Exception:
        log.exception("media job: clip %s: the outcome could not be recorded", clip.id)


def _found(inspection: Inspection, poster_key: str | None) -> dict[str, object]:
    info = inspection.info
    values: dict[str, object] = {
        "media_duration_ms": info.duration_ms,
        "video_codec": info.codec[:32],
        "width": info.width,
        "height": info.height,
        "media_error": None,
    }
    if poster_key is not None:
        values["thumbnail_key"] = poster_key
    return values


def _source(storage: ClipStorage, key: str) -> bytes | Path:
    """The clip's file on this machine, else its bytes (S3: read whole, clips are small)."""
    path = storage.local_file(key)
    return path if path is not None else storage.get(key)


def _record(
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    clip_id: uuid.UUID,
    values: dict[str, object],
) -> bool:
    """Record `values` (and `media_probed_at`), only while the clip is pending and available
    at the instant of the write; whether it was."""
    with session_scope(sessions) as session:
        now = clock()
        done = session.execute(
            update(Clip)
            .where(
                Clip.id == clip_id,
                Clip.media_probed_at.is_(None),
                Clip.erased_at.is_(None),
                Clip.expires_at > now,
            )
            .values(media_probed_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], done).rowcount > 0


def _names(
    sessions: sessionmaker[Session], clock: Callable[[], datetime], clip_id: uuid.UUID, key: str
) -> bool:
    """Whether the clip, still available, names `key` as its thumbnail (another job recorded
    the same clip meanwhile, with the same key): then the poster stays, else it goes."""
    with session_scope(sessions) as session:
        clip = session.get(Clip, clip_id)
        return (
            clip is not None
            and clip.thumbnail_key == key
            and clip.deleted_at is None
            and available(clip.expires_at, clip.erased_at, clock())
        )
