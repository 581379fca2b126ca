"""Clip use cases: upload (V1), the activity center (V3a, V7), playback (V4, V7), manual
recording (V5). They never commit."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.errors import ClipNoLongerAvailable, NoCloudRecording
from kasacare.clips.models import Clip, ClipKind, ManualRecording
from kasacare.clips.rules import LISTED_FOR, available, fits_window
from kasacare.entitlements.rules import Entitlement
from kasacare.entitlements.service import camera_entitlement
from kasacare.kit.errors import NotFound, ValidationFailed
from kasacare.kit.secrets import shared_secret

NO_CLOUD_DETAIL = (
    "This camera has no cloud recording: add a microSD card for local recording, "
    "or subscribe to Kasa Care"
)
URL_SECRET = "clip_url_signing"  # noqa: S105 (the row name, not a secret)


@dataclass(frozen=True, slots=True)
class Upload:
    started_at: datetime
    duration_s: int
    kind: ClipKind
    size: int
    content_type: str


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
    next_cursor: str | None


def list_clips(
    session: Session,
    camera: Camera,
    now: datetime,
    *,
    start: datetime | None,
    end: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """V3a, V7: entries newest first, including no-longer-available ones for 30 days."""
    query = (
        select(Clip)
        .where(Clip.camera_id == camera.id, Clip.started_at > now - LISTED_FOR)
        .order_by(Clip.started_at.desc(), Clip.id.desc())
        .limit(limit + 1)
    )
    if start is not None:
        query = query.where(Clip.started_at >= start)
    if end is not None:
        query = query.where(Clip.started_at < end)
    if cursor is not None:
        at, clip_id = _decode_cursor(cursor)
        query = query.where(
            (Clip.started_at < at) | ((Clip.started_at == at) & (Clip.id < clip_id))
        )
    clips = list(session.scalars(query))
    more = len(clips) > limit
    clips = clips[:limit]
    return Page(clips, _encode_cursor(clips[-1]) if more else None)


def _encode_cursor(clip: Clip) -> str:
    raw = f"{clip.started_at.isoformat()}|{clip.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, clip_id = raw.split("|")
        return datetime.fromisoformat(at), uuid.UUID(clip_id)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Unknown cursor", field="cursor") from None


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


def request_manual_recording(
    session: Session, catalog: Catalog, camera: Camera, now: datetime
) -> ManualRecording:
    """V5, Q15: needs cloud recording (free plan or paid)."""
    recording_entitlement(session, catalog, camera, now, manual=True)
    request = ManualRecording(camera_id=camera.id, requested_at=now)
    session.add(request)
    session.flush()
    return request


def url_secret(session: Session) -> str:
    """The deployment's clip URL signing secret (shared by every process)."""
    return shared_secret(session, URL_SECRET)
