"""Direct uploads to object storage (issue 11, item 2): the camera PUTs a clip's bytes straight
to S3 with a presigned URL, so no byte passes through the API process; the API authorizes
the upload and keeps the metadata.

1. `begin`: the same checks as the multipart upload (cloud recording, the window, the type,
   `clip_max_bytes`), then a `clip_uploads` row and a presigned PUT for a fresh key, valid
   `UPLOAD_URL_TTL`. The signature covers `Content-Type` and `Content-Length`, so S3 itself
   refuses a PUT of another type or size, or one after the URL's life.
2. The camera PUTs the bytes.
3. `complete`: HEAD the object (it exists, has the declared size and type), read its first
   bytes (an MP4 `ftyp` box), then store the clip row as the multipart ingest does
   (`ingest.store_written`: the coverage lock, the re-check, the same row), and mark the
   upload completed, in one transaction under the upload row's lock. A completion after
   `expires_at`, of a wrong object, or that the re-check refuses (a plan cancelled meanwhile)
   deletes the object and marks the upload abandoned. Completing again answers the same clip
   (200), like a retried multipart upload.
4. `sweep_uploads` (on the sweeper's timer): uploads never completed are deleted, object and
   all, `ABANDON_AFTER` their start.

The local disk has no presigned URLs (`presigned_put` is None): there `begin` answers 409
`direct_upload_unavailable` and cameras post clips to `POST /v1/device/clips`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, NoReturn

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.errors import (
    ClipTooLarge,
    DirectUploadUnavailable,
    NotMp4,
    UnsupportedClipType,
    UploadAbandoned,
    UploadExpired,
    UploadObjectMissing,
    UploadSizeMismatch,
)
from kasacare.clips.ingest import Stored, store_written
from kasacare.clips.models import Clip, ClipKind, ClipUpload
from kasacare.clips.mp4 import looks_like_mp4
from kasacare.clips.service import Upload, check_upload, recording_entitlement, storage_key_for
from kasacare.clips.storage import ClipBlobMissing, ClipStorage
from kasacare.kit.db import session_scope, statement_connection
from kasacare.kit.errors import KasaCareError, NotFound, Unauthorized

log = logging.getLogger(__name__)

#: How long a presigned PUT lasts, and until when the upload may be completed: long enough
#: for a clip over a slow uplink, short enough that a leaked URL is soon worthless.
UPLOAD_URL_TTL = timedelta(minutes=15)
#: An upload never completed is deleted (object and all) this long after it began.
ABANDON_AFTER = timedelta(hours=1)
#: The types a camera may upload (as `POST /v1/device/clips`).
ACCEPTED_TYPES = frozenset({"video/mp4"})
#: Bytes read back from the object to tell an MP4 (`clips.mp4`: the `ftyp` box's type).
PREFIX_BYTES = 8
#: Uploads per transaction of the sweep: one S3 DeleteObjects call each.
SWEEP_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Ticket:
    """A begun upload: PUT the bytes to `url` with `headers` before `expires_at`."""

    upload_id: uuid.UUID
    url: str
    headers: dict[str, str]
    expires_at: datetime


def begin(
    session: Session,
    catalog: Catalog,
    storage: ClipStorage,
    camera: Camera,
    upload: Upload,
    max_bytes: int,
    now: datetime,
) -> Ticket:
    """Authorize a direct upload of `upload` by `camera` and answer where to PUT it."""
    key = storage_key_for(camera.id)
    seconds = int(UPLOAD_URL_TTL.total_seconds())
    url = storage.presigned_put(key, seconds, upload.content_type, upload.size)
    if url is None:
        raise DirectUploadUnavailable(
            "Clips are stored by this service itself: post them to /v1/device/clips"
        )
    if upload.content_type not in ACCEPTED_TYPES:
        raise UnsupportedClipType(f"content_type must be one of {sorted(ACCEPTED_TYPES)}")
    if upload.size > max_bytes:
        raise ClipTooLarge(f"A clip is at most {max_bytes} bytes")
    entitlement = recording_entitlement(
        session, catalog, camera, now, manual=upload.kind is ClipKind.MANUAL
    )
    check_upload(entitlement, upload, now)
    row = ClipUpload(
        camera_id=camera.id,
        started_at=upload.started_at,
        duration_s=upload.duration_s,
        kind=upload.kind,
        size=upload.size,
        content_type=upload.content_type,
        storage_key=key,
        created_at=now,
        expires_at=now + UPLOAD_URL_TTL,
        request_id=upload.request_id,
    )
    session.add(row)
    session.flush()
    headers = {"Content-Type": upload.content_type, "Content-Length": str(upload.size)}
    return Ticket(row.id, url, headers, row.expires_at)


class _Pending(NamedTuple):
    id: uuid.UUID
    camera_id: uuid.UUID
    started_at: datetime
    duration_s: int
    kind: ClipKind
    size: int
    content_type: str
    storage_key: str
    expires_at: datetime
    completed_at: datetime | None
    clip_id: uuid.UUID | None
    abandoned_at: datetime | None
    request_id: uuid.UUID | None

    @property
    def upload(self) -> Upload:
        return Upload(
            self.started_at,
            self.duration_s,
            self.kind,
            self.size,
            self.content_type,
            self.request_id,
        )


_UPLOAD = select(
    ClipUpload.id,
    ClipUpload.camera_id,
    ClipUpload.started_at,
    ClipUpload.duration_s,
    ClipUpload.kind,
    ClipUpload.size,
    ClipUpload.content_type,
    ClipUpload.storage_key,
    ClipUpload.expires_at,
    ClipUpload.completed_at,
    ClipUpload.clip_id,
    ClipUpload.abandoned_at,
    ClipUpload.request_id,
)


def complete(
    engine: Engine,
    catalog: Catalog,
    storage: ClipStorage,
    clock: Callable[[], datetime],
    digest: str,
    upload_id: uuid.UUID,
) -> Stored:
    """Turn the uploaded object into a clip: `created` for the first completion, not for a
    repeat. No transaction is open while object storage is asked."""
    now = clock()
    with statement_connection(engine) as connection:
        pending = _find(connection, digest, upload_id)
        decided = _decided(connection, pending)
    if decided is not None:
        return decided
    if now >= pending.expires_at:
        _abandon(engine, storage, pending, now, UploadExpired("Complete within the URL's life"))
    try:
        head = storage.head(pending.storage_key)
        prefix = storage.read_prefix(pending.storage_key, PREFIX_BYTES)
    except ClipBlobMissing:
        # The row stays: the camera may PUT and complete again while its URL lasts.
        raise UploadObjectMissing("PUT the clip to the upload's URL first") from None
    if head.size != pending.size:
        _abandon(
            engine,
            storage,
            pending,
            now,
            UploadSizeMismatch(f"{head.size} bytes were uploaded, {pending.size} declared"),
        )
    if head.content_type is not None and head.content_type != pending.content_type:
        _abandon(
            engine,
            storage,
            pending,
            now,
            UnsupportedClipType(f"uploaded as {head.content_type}, not {pending.content_type}"),
        )
    if not looks_like_mp4(prefix):
        _abandon(engine, storage, pending, now, NotMp4("video must start with an ftyp box"))
    now = clock()  # the row's `created_at`: see `clips.watermark.SAFETY_LAG`
    with engine.begin() as connection:
        current = _locked(connection, pending.id)
        decided = _decided(connection, current)
        if decided is not None:  # another completion got there first
            return decided
        outcome = store_written(
            connection,
            catalog,
            storage,
            digest,
            current.camera_id,
            current.upload,
            current.storage_key,
            now,
        )
        if isinstance(outcome, Stored):
            _mark(connection, current.id, completed_at=now, clip_id=outcome.id)
            return outcome
        # Refused by the re-check: `store_written` deleted the object.
        _mark(connection, current.id, abandoned_at=now)
    raise outcome


def _find(connection: Connection, digest: str, upload_id: uuid.UUID) -> _Pending:
    """The upload, if it is this device token's camera's (401 unknown token, 404 else)."""
    camera_id = connection.scalar(
        select(Camera.id).where(Camera.device_token_digest == digest, Camera.unbound_at.is_(None))
    )
    if camera_id is None:
        raise Unauthorized("Unknown or revoked device token")
    row = connection.execute(
        _UPLOAD.where(ClipUpload.id == upload_id, ClipUpload.camera_id == camera_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No such upload")
    return _Pending._make(row)


def _locked(connection: Connection, upload_id: uuid.UUID) -> _Pending:
    """The upload row again, locked against another completion and the sweep (on SQLite
    the write transaction is lock enough)."""
    row = connection.execute(_UPLOAD.where(ClipUpload.id == upload_id).with_for_update()).one()
    return _Pending._make(row)


def _decided(connection: Connection, upload: _Pending) -> Stored | None:
    """A completed upload's clip (completing again answers it, 200); an abandoned one is
    refused for good; a pending one is None."""
    if upload.abandoned_at is not None:
        raise UploadAbandoned("Its object is deleted: begin a new upload")
    if upload.clip_id is None:
        return None
    clip = connection.execute(
        select(Clip.id, Clip.camera_id, Clip.started_at, Clip.expires_at).where(
            Clip.id == upload.clip_id
        )
    ).one()
    return Stored(clip.id, clip.camera_id, clip.started_at, clip.expires_at, created=False)


def _abandon(
    engine: Engine, storage: ClipStorage, pending: _Pending, now: datetime, refusal: KasaCareError
) -> NoReturn:
    """Delete the object and mark the upload abandoned, under its lock (a completion that
    got there first keeps it), then raise `refusal`. The object goes before the commit: if
    the commit fails the row stays pending and the sweep deletes again, harmlessly."""
    with engine.begin() as connection:
        current = _locked(connection, pending.id)
        if _decided(connection, current) is None:
            storage.delete_many([current.storage_key])
            _mark(connection, current.id, abandoned_at=now)
    raise refusal


def _mark(connection: Connection, upload_id: uuid.UUID, **values: object) -> None:
    connection.execute(update(ClipUpload).where(ClipUpload.id == upload_id).values(**values))


def sweep_uploads(
    sessions: sessionmaker[Session],
    storage: ClipStorage,
    now: datetime,
    *,
    batch: int = SWEEP_BATCH,
) -> int:
    """Delete the objects of uploads begun `ABANDON_AFTER` ago and never completed, and mark
    them abandoned; returns how many. A batch the storage refuses is tried key by key: the
    refused ones are logged and left pending for the next run, the others go on."""
    deleted = 0
    refused: set[uuid.UUID] = set()
    while True:
        with session_scope(sessions) as session:
            query = (
                select(ClipUpload.id, ClipUpload.storage_key)
                .where(
                    ClipUpload.completed_at.is_(None),
                    ClipUpload.abandoned_at.is_(None),
                    ClipUpload.created_at <= now - ABANDON_AFTER,
                )
                .order_by(ClipUpload.created_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            if refused:
                query = query.where(ClipUpload.id.notin_(refused))
            rows = session.execute(query).all()
            failed = _delete(storage, [(row.id, row.storage_key) for row in rows])
            refused |= failed
            done = [row.id for row in rows if row.id not in failed]
            if done:
                session.execute(
                    update(ClipUpload)
                    .where(ClipUpload.id.in_(done))
                    .values(abandoned_at=now)
                    .execution_options(synchronize_session=False)
                )
            deleted += len(done)
        if len(rows) < batch:
            return deleted


def _delete(storage: ClipStorage, uploads: list[tuple[uuid.UUID, str]]) -> set[uuid.UUID]:
    """Delete the uploads' objects; the ids of those the storage refused."""
    if not uploads:
        return set()
    try:
        storage.delete_many([key for _, key in uploads])
        return set()
    except Exception:
        log.exception("upload sweep: the storage refused %d objects; one by one", len(uploads))
    failed = set()
    for upload_id, key in uploads:
        try:
            storage.delete_many([key])
        except Exception:
            log.exception("upload %s (%s) not deleted; the next run retries", upload_id, key)
            failed.add(upload_id)
    return failed
