"""Many clip rows at once, straight into the database (one multi-row INSERT): for pages that
list hundreds of clips, where uploading each would test nothing more. No bytes are stored:
listing needs none, and a play of such a clip finds no file."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert

from kasacare.clips.models import Clip, ClipKind
from kasacare.kit.db import table_of


def seed_clips(
    engine: Engine,
    camera_id: str | uuid.UUID,
    starts: Sequence[datetime],
    *,
    kept_for: timedelta = timedelta(hours=48),
    kind: ClipKind = ClipKind.MOTION,
) -> list[uuid.UUID]:
    camera = uuid.UUID(str(camera_id))
    ids = [uuid.uuid4() for _ in starts]
    rows = [
        {
            "id": clip_id,
            "camera_id": camera,
            "started_at": started_at,
            "duration_s": 20,
            "kind": kind,
            "size": 280,
            "content_type": "video/mp4",
            "storage_key": f"{camera}/{uuid.uuid4()}.mp4",
            "expires_at": started_at + kept_for,
            "erased_at": None,
            "deleted_at": None,
            "created_at": started_at,
        }
        for clip_id, started_at in zip(ids, starts, strict=True)
    ]
    with engine.begin() as connection:
        connection.execute(insert(table_of(Clip)), rows)
    return ids
