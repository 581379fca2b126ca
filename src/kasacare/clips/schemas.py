"""Clip response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from kasacare.clips.models import Clip, ClipKind
from kasacare.clips.rules import available


class ClipUploaded(BaseModel):
    id: uuid.UUID
    camera_id: uuid.UUID
    started_at: datetime
    expires_at: datetime


class ClipEntry(BaseModel):
    id: uuid.UUID
    started_at: datetime
    duration_s: int
    kind: ClipKind
    expires_at: datetime
    available: bool

    @classmethod
    def of(cls, clip: Clip, now: datetime) -> ClipEntry:
        return cls(
            id=clip.id,
            started_at=clip.started_at,
            duration_s=clip.duration_s,
            kind=clip.kind,
            expires_at=clip.expires_at,
            available=available(clip.expires_at, clip.erased_at, now),
        )


class ClipPage(BaseModel):
    items: list[ClipEntry]
    next_cursor: str | None


class ClipRead(ClipEntry):
    camera_id: uuid.UUID
    playback_url: str
    download_url: str | None
    url_expires_at: datetime


class ManualRecordingRead(BaseModel):
    id: uuid.UUID
    camera_id: uuid.UUID
    requested_at: datetime
