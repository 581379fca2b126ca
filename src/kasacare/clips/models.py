"""Clip tables.

A clip row is the activity-center entry; its bytes live in clip storage under `storage_key`.
`expires_at` is when it leaves the camera's window (V2); `erased_at` is set in the
transaction of a change that shortened history (V3); `deleted_at` once an erased clip's bytes
are gone. An expired clip's row is not written when its bytes go: the sweeper's watermark
(`SweepProgress`, see `clips/watermark.py`) says how far through the expired clips it got.
A clip is available while not erased and `now < expires_at`; the entry itself is listed until
30 days after the clip started (V3a).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id, str_enum


class ClipKind(StrEnum):
    MOTION = "motion"
    MANUAL = "manual"


class Clip(Base):
    __tablename__ = "clips"
    __table_args__ = (
        # A retried upload (same camera and start) is the same clip.
        UniqueConstraint("camera_id", "started_at"),
        # The sweeper walks expired clips in (expires_at, id) order from its watermark, and
        # erased clips whose bytes are still stored: its cost follows what expired, not what
        # is stored (V2).
        Index(
            "ix_clips_expiry_order",
            "expires_at",
            "id",
            sqlite_where=text("erased_at IS NULL"),
            postgresql_where=text("erased_at IS NULL"),
        ),
        Index(
            "ix_clips_pending_erasure",
            "erased_at",
            sqlite_where=text("deleted_at IS NULL AND erased_at IS NOT NULL"),
            postgresql_where=text("deleted_at IS NULL AND erased_at IS NOT NULL"),
        ),
        # The media job walks clips not probed yet, oldest first.
        Index(
            "ix_clips_media_pending",
            "created_at",
            sqlite_where=text("media_probed_at IS NULL AND erased_at IS NULL"),
            postgresql_where=text("media_probed_at IS NULL AND erased_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id"))
    started_at: Mapped[datetime]
    duration_s: Mapped[int]
    kind: Mapped[ClipKind] = mapped_column(str_enum(ClipKind))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The poster frame (JPEG) beside the clip's bytes: sent by the camera or extracted by the
    # media job; erased and expired with the clip.
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    # What the media job read from the file itself; `media_probed_at` is null until it ran.
    media_probed_at: Mapped[datetime | None]
    media_duration_ms: Mapped[int | None]
    video_codec: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None]
    height: Mapped[int | None]
    media_error: Mapped[str | None] = mapped_column(String(200))


class ClipUpload(Base):
    """A direct upload to object storage: the camera PUTs the bytes to `storage_key` with a
    presigned URL, then completes; the clip row is made only then. Never completed: the
    sweeper deletes the object an hour after `created_at`."""

    __tablename__ = "clip_uploads"
    __table_args__ = (
        Index(
            "ix_clip_uploads_pending",
            "created_at",
            sqlite_where=text("completed_at IS NULL AND abandoned_at IS NULL"),
            postgresql_where=text("completed_at IS NULL AND abandoned_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id"), index=True)
    started_at: Mapped[datetime]
    duration_s: Mapped[int]
    kind: Mapped[ClipKind] = mapped_column(str_enum(ClipKind))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    clip_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clips.id"))
    # Set when the upload was refused or left unfinished and its object deleted.
    abandoned_at: Mapped[datetime | None]
    #: The manual recording request (`ManualRecording`) the clip answers, if any.
    request_id: Mapped[uuid.UUID | None]


class ManualRecording(Base):
    """An owner's request that the camera record now (V5); the camera uploads a `manual` clip.
    Its state (`clips.manual_rules`) follows from the timestamps: the camera's answer
    (`recording_started_at`) and the clip it uploaded with the request's id (`clip_id`)."""

    __tablename__ = "manual_recordings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id"), index=True)
    requested_at: Mapped[datetime]
    #: The camera said it records: a `recording_started` event, or its ack of `record_now`.
    recording_started_at: Mapped[datetime | None]
    clip_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clips.id"))
    uploaded_at: Mapped[datetime | None]


class SweepProgress(Base):
    """The sweeper's watermark over expired clips (V2), one row (id 1): every clip not erased
    whose `(expires_at, id)` is at or before `(expired_through_at, expired_through_id)` has
    had its bytes deleted, or was a V8 mismatch that raised its alert. No row yet: nothing
    swept (`clips/watermark.py` makes it when first needed)."""

    __tablename__ = "sweep_progress"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    expired_through_at: Mapped[datetime]
    expired_through_id: Mapped[uuid.UUID]
