"""Clip response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from kasacare.clips.manual_rules import RequestState
from kasacare.clips.models import Clip, ClipKind
from kasacare.clips.rules import available
from kasacare.kit.schemas import Instant


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
    #: The poster frame (JPEG) for `PLAYBACK_URL_TTL`: null until there is one (the media job
    #: makes it within minutes), once the clip is no longer available, and for support agents.
    thumbnail_url: str | None

    @classmethod
    def of(cls, clip: Clip, now: datetime, *, thumbnail_url: str | None = None) -> ClipEntry:
        return cls(
            id=clip.id,
            started_at=clip.started_at,
            duration_s=clip.duration_s,
            kind=clip.kind,
            expires_at=clip.expires_at,
            available=available(clip.expires_at, clip.erased_at, now),
            thumbnail_url=thumbnail_url,
        )


class ClipPage(BaseModel):
    items: list[ClipEntry]
    next_cursor: str | None
    newer_cursor: str | None = None


class ClipMedia(BaseModel):
    """What the media job read from the clip's file itself (`clips.probe`)."""

    duration_ms: int | None
    codec: str
    width: int
    height: int

    @classmethod
    def of(cls, clip: Clip) -> ClipMedia | None:
        if clip.media_probed_at is None or clip.video_codec is None:
            return None
        return cls(
            duration_ms=clip.media_duration_ms,
            codec=clip.video_codec,
            width=clip.width or 0,
            height=clip.height or 0,
        )


class ClipRead(ClipEntry):
    camera_id: uuid.UUID
    playback_url: str
    download_url: str | None
    url_expires_at: datetime
    #: Null until the media job has read the file (or when it could not: not a readable video).
    media: ClipMedia | None


class ManualRecordingRead(BaseModel):
    """Issue 12 item 3: `sent` (the camera has not answered), `recording` (it said it
    records), `uploaded` (its clip, `clip_id`, is linked), `expired` (no answer by
    `answer_by`, or no clip 15 minutes after the request)."""

    id: uuid.UUID
    camera_id: uuid.UUID
    requested_at: datetime
    state: RequestState
    answer_by: datetime
    recording_started_at: datetime | None
    clip_id: uuid.UUID | None


class ClipUploadStart(BaseModel):
    """A direct upload's declaration (`POST /v1/device/clip-uploads`): the clip's fields as
    in the multipart upload, with the size and type of the bytes the camera will PUT."""

    started_at: Instant
    duration_s: int = Field(ge=1, le=3600)
    kind: ClipKind = ClipKind.MOTION
    size: int = Field(ge=1)
    content_type: str = Field(max_length=64)
    request_id: uuid.UUID | None = Field(
        default=None, description="The manual recording request a `manual` clip answers"
    )

    @model_validator(mode="after")
    def _request_only_for_manual(self) -> ClipUploadStart:
        if self.request_id is not None and self.kind is not ClipKind.MANUAL:
            raise ValueError("request_id goes with kind manual")
        return self


class ClipUploadTicket(BaseModel):
    """Where and how to PUT the bytes: `method` to `url` with exactly `headers`, before
    `expires_at`; then `POST /v1/device/clip-uploads/{upload_id}/complete`."""

    upload_id: uuid.UUID
    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: datetime
