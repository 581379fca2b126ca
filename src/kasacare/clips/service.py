"""Clip use cases: upload (V1), the activity center (V3a, V7), playback (V4, V7), manual
recording (V5, requested in `clips.manual`). They never commit."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.errors import ClipNoLongerAvailable, NoCloudRecording
from kasacare.clips.models import Clip, ClipKind
from kasacare.clips.rules import LISTED_FOR, available, fits_window
from kasacare.entitlements.rules import Entitlement
from kasacare.entitlements.service import camera_entitlement
from kasacare.kit.errors import NotFound, ValidationFailed
from kasacare.kit.schemas import utc_instant

NO_CLOUD_DETAIL = (
    "This camera has no cloud recording: add a microSD card for local recording, "
    "or subscribe to Kasa Care"
)


@dataclass(frozen=True, slots=True)
class Upload:
    started_at: datetime
    duration_s: int
    kind: ClipKind
    size: int
    content_type: str
    #: The manual recording request this clip answers (`clips.manual`), if any.
    request_id: uuid.UUID | None = None


def recording_entitlement(
    session: Session, catalog: Catalog, camera: Camera, now: datetime, *, manual: bool = False
) -> Entitlement:
    """The camera's entitlement, refusing a camera without cloud (or manual) recording."""
    return require_recording(camera_entitlement(session, catalog, camera, now), manual=manual)


def require_recording(entitlement: Entitlement, *, manual: bool) -> Entitlement:
    if not entitlement.cloud_recording or (manual and not entitlement.manual_recording):
        raise NoCloudRecording(NO_CLOUD_DETAIL)
    return entitlement


def check_upload(entitlement: Entitlement, upload: Upload, now: datetime) -> None:
    if not fits_window(upload.started_at, entitlement, now):
        raise ValidationFailed(
            "started_at lies outside this camera's history window "
            f"({entitlement.history_hours} h back, 5 min ahead)",
            field="started_at",
        )


def storage_key_for(camera_id: uuid.UUID) -> str:
    return f"{camera_id}/{uuid.uuid4()}.mp4"


@dataclass(frozen=True, slots=True)
class Page:
    clips: list[Clip]
    #: Older entries follow (`cursor`); newer ones come before (`cursor` with `newer`).
    next_cursor: str | None
    newer_cursor: str | None = None


def list_clips(
    session: Session,
    camera: Camera,
    now: datetime,
    *,
    start: datetime | None,
    end: datetime | None,
    cursor: str | None,
    limit: int,
    kind: ClipKind | None = None,
    newer: bool = False,
) -> Page:
    """V3a, V7: entries newest first, including no-longer-available ones for 30 days.

    `cursor` names a place in that order: the page after it (older entries), or with `newer`
    the `limit` entries just before it (still answered newest first). Each page says whether
    there is more either way (`next_cursor`, `newer_cursor`): one extra row read for its own
    direction, one indexed probe for the other."""
    filters = [Clip.camera_id == camera.id, Clip.started_at > now - LISTED_FOR]
    if start is not None:
        filters.append(Clip.started_at >= start)
    if end is not None:
        filters.append(Clip.started_at < end)
    if kind is not None:
        filters.append(Clip.kind == kind)
    place = _decode_cursor(cursor) if cursor is not None else None
    if newer and place is not None:
        clips = list(
            session.scalars(
                select(Clip)
                .where(*filters, _after(place))
                .order_by(Clip.started_at.asc(), Clip.id.asc())
                .limit(limit + 1)
            )
        )
        more_newer = len(clips) > limit
        clips = clips[:limit][::-1]
        more_older = bool(clips) and _any(session, filters, _before(_place(clips[-1])))
    else:
        query = select(Clip).where(*filters).order_by(Clip.started_at.desc(), Clip.id.desc())
        if place is not None:
            query = query.where(_before(place))
        clips = list(session.scalars(query.limit(limit + 1)))
        more_older = len(clips) > limit
        clips = clips[:limit]
        more_newer = (
            bool(clips) and place is not None and _any(session, filters, _after(_place(clips[0])))
        )
    return Page(
        clips,
        _encode_cursor(clips[-1]) if more_older else None,
        _encode_cursor(clips[0]) if more_newer else None,
    )


def _place(clip: Clip) -> tuple[datetime, uuid.UUID]:
    return clip.started_at, clip.id


def _before(place: tuple[datetime, uuid.UUID]) -> ColumnElement[bool]:
    at, clip_id = place
    return (Clip.started_at < at) | ((Clip.started_at == at) & (Clip.id < clip_id))


def _after(place: tuple[datetime, uuid.UUID]) -> ColumnElement[bool]:
    at, clip_id = place
    return (Clip.started_at > at) | ((Clip.started_at == at) & (Clip.id > clip_id))


def _any(session: Session, filters: list[ColumnElement[bool]], where: ColumnElement[bool]) -> bool:
    return session.scalar(select(Clip.id).where(*filters, where).limit(1)) is not None


def cursor_before(at: datetime) -> str:
    """A cursor whose page starts with the newest entry that started before `at` (a jump to a
    date: `at` is the end of the chosen day)."""
    return _cursor(at, uuid.UUID(int=0))


def _encode_cursor(clip: Clip) -> str:
    return _cursor(clip.started_at, clip.id)


def _cursor(at: datetime, clip_id: uuid.UUID) -> str:
    raw = f"{at.isoformat()}|{clip_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, clip_id = raw.split("|")
        return utc_instant(datetime.fromisoformat(at)), uuid.UUID(clip_id)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Unknown cursor", field="cursor") from None


@dataclass(frozen=True, slots=True)
class HeldClip:
    """A clip whose bytes are still kept and playable: what an erasure would take."""

    id: uuid.UUID
    started_at: datetime
    kind: ClipKind
    storage_key: str


def held_clips(
    session: Session, camera_id: uuid.UUID, now: datetime, *, before: datetime | None = None
) -> list[HeldClip]:
    """The camera's available clips, newest first; with `before`, those that started before
    it (what an erasure of the history before that instant takes)."""
    query = select(Clip.id, Clip.started_at, Clip.kind, Clip.storage_key).where(
        Clip.camera_id == camera_id,
        Clip.erased_at.is_(None),
        Clip.deleted_at.is_(None),
        Clip.expires_at > now,
    )
    if before is not None:
        query = query.where(Clip.started_at < before)
    rows = session.execute(query.order_by(Clip.started_at.desc(), Clip.id.desc()))
    return [HeldClip(*row) for row in rows]


def owned_clip(session: Session, account_id: uuid.UUID, clip_id: uuid.UUID) -> Clip:
    clip = session.scalar(
        select(Clip)
        .join(Camera, Camera.id == Clip.camera_id)
        .where(Clip.id == clip_id, Camera.account_id == account_id, Camera.unbound_at.is_(None))
    )
    if clip is None:
        raise NotFound("No such clip")
    return clip


def playable(clip: Clip, now: datetime) -> Clip:
    """V4: an erased or aged-out clip answers 410 forever."""
    if not available(clip.expires_at, clip.erased_at, now) or clip.deleted_at is not None:
        raise ClipNoLongerAvailable("No longer available")
    return clip


def clip_by_key(session: Session, storage_key: str) -> Clip | None:
    return session.scalar(select(Clip).where(Clip.storage_key == storage_key))
