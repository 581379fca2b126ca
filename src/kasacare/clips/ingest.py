"""Clip upload (V1) in groups: the uploads that reach one process together are checked with
one read transaction, their bytes written, and their rows inserted with one statement and one
commit (`kit.batching`). Each upload still gets its own answer: 201 with the new clip, 200
with the clip a retry repeats, or its own error, exactly as one at a time.

Per group on SQLite:
1. one SELECT (a transaction of its own, `statement_connection`) reads the cameras of the
   device tokens with what covers each (`with_coverage`), from which each upload is refused
   (401, the body's own problem, `no_cloud_recording`, the window) or accepted; nothing is
   stored for a refused one;
2. the accepted uploads' bytes are written and made durable together (`put_many`), with no
   transaction open and no lock held;
3. one transaction takes the coverage lock of their cameras (`coverage_lock`), reads their
   coverage again, so that a plan change that committed meanwhile decides their window (or
   refuses them, their bytes deleted), and stores their rows with one `INSERT ... ON CONFLICT
   (camera_id, started_at) DO NOTHING RETURNING`. A retry (a clip of the same camera and
   `started_at` is stored) answers that clip, and its own bytes are deleted: retries are
   rare, so the common upload pays no query for them.

On PostgreSQL the group is one transaction on one pooled connection: it takes the shared
coverage locks of the tokens' cameras first (`lock_tokens`), reads their coverage once (step
1, now under the locks, so no change can commit before the rows and nothing needs reading
again), writes the bytes (step 2, the locks held: a plan change of these cameras waits for
one disk flush) and inserts the rows (step 3 without its lock and second read). A change
that comes second sees the new clips and decides their window itself (`retention`). Five
round trips a group instead of eight and two checkouts (issue 11, item 6).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Engine, String, Table, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kasacare.cameras.models import Camera, Device
from kasacare.catalog.schemas import Catalog
from kasacare.clips.coverage_lock import lock_cameras, lock_tokens
from kasacare.clips.errors import UploadTooSlow
from kasacare.clips.manual import link_clips
from kasacare.clips.models import Clip, ClipKind
from kasacare.clips.rules import clip_expiry
from kasacare.clips.service import Upload, check_upload, require_recording, storage_key_for
from kasacare.clips.storage import Blob, ClipStorage
from kasacare.clips.thumbnails import THUMBNAIL_TYPE, thumbnail_key_for
from kasacare.clips.watermark import SAFETY_LAG
from kasacare.entitlements.service import coverage_of, entitlement_of, with_coverage
from kasacare.kit.db import statement_connection
from kasacare.kit.errors import KasaCareError, Unauthorized
from kasacare.subscriptions.models import PlanId, Status

#: Uploads per group: enough to share a commit among every connection a worker serves at
#: once, few enough to keep one insert statement far below SQLite's bound-parameter limit.
MAX_GROUP = 64
#: Under concurrent uploads, how long a group waits for the uploads already on their way:
#: measured (`make bench`), 2-3 ms cut the CPU an upload costs by 15-20%.
GATHER_SECONDS = 0.002


@dataclass(frozen=True, slots=True)
class Submission:
    """One upload as the endpoint received it; `refusal` is its body's own problem (type,
    size), answered only once the device token is known to be good (401 comes first)."""

    token_digest: str
    upload: Upload
    data: bytes
    refusal: KasaCareError | None = None
    #: The camera's poster (a checked JPEG), stored beside the clip (`clips.thumbnails`).
    thumbnail: bytes | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    id: uuid.UUID
    camera_id: uuid.UUID
    started_at: datetime
    expires_at: datetime
    created: bool


Outcome = Stored | Exception


class _Camera(NamedTuple):
    id: uuid.UUID
    digest: str
    model: str
    setup_at: datetime
    plan: PlanId | None
    status: Status | None
    legacy_plan: str | None


class _Twin(NamedTuple):
    id: uuid.UUID
    camera_id: uuid.UUID
    started_at: datetime
    expires_at: datetime


# Built once: constructing a statement per group cost more than running it. On PostgreSQL
# each statement's text is the same for every group (arrays, not a list of values or rows):
# psycopg parses it once and the server prepares it once per connection, where a text that
# changed with the group's size was parsed anew each time (measured: a third of the group's
# Python time went to psycopg's query parser).
_CAMERA_COLUMNS = select(Camera.id, Camera.device_token_digest, Device.model, Device.setup_at).join(
    Device, Device.id == Camera.device_id
)
_BY_DIGEST = {
    "postgresql": Camera.device_token_digest == any_(bindparam("digests", type_=ARRAY(String))),
    "sqlite": Camera.device_token_digest.in_(bindparam("digests", expanding=True)),
}
_CAMERAS = {
    dialect: with_coverage(_CAMERA_COLUMNS.where(by_digest, Camera.unbound_at.is_(None)))
    for dialect, by_digest in _BY_DIGEST.items()
}
_CLIPS = cast(Table, Clip.__table__)
_INSERTED = (_CLIPS.c.camera_id, _CLIPS.c.started_at)
_COLUMNS = (
    "id",
    "camera_id",
    "started_at",
    "duration_s",
    "kind",
    "size",
    "content_type",
    "storage_key",
    "expires_at",
    "created_at",
    "thumbnail_key",
)
_INCOMING = (
    func.unnest(*(bindparam(name, type_=ARRAY(_CLIPS.c[name].type)) for name in _COLUMNS))
    .table_valued(*_COLUMNS)
    .render_derived(name="incoming")
)
_INSERT = {
    # One row per array index; the arrays are bound as `_COLUMNS`, one list each.
    "postgresql": postgresql_insert(_CLIPS)
    .from_select(_COLUMNS, select(*(_INCOMING.c[name] for name in _COLUMNS)))
    .on_conflict_do_nothing(index_elements=list(_INSERTED))
    .returning(*_INSERTED),
    # A list of rows: SQLAlchemy sends them as one multi-row INSERT ("insertmanyvalues").
    "sqlite": sqlite_insert(_CLIPS)
    .on_conflict_do_nothing(index_elements=list(_INSERTED))
    .returning(*_INSERTED),
}
_TWINS = select(Clip.id, Clip.camera_id, Clip.started_at, Clip.expires_at).where(
    Clip.camera_id.in_(bindparam("camera_ids", expanding=True)),
    Clip.started_at.in_(bindparam("starts", expanding=True)),
)


@dataclass(slots=True)
class _Accepted:
    index: int
    digest: str
    camera_id: uuid.UUID
    upload: Upload
    data: bytes
    expires_at: datetime
    key: str = ""
    thumbnail: bytes | None = None

    @property
    def thumbnail_key(self) -> str | None:
        return None if self.thumbnail is None else thumbnail_key_for(self.key)


def _keys(writers: list[_Accepted]) -> list[str]:
    """Every key these writers store: their clips' and their thumbnails'."""
    keys = [writer.key for writer in writers]
    keys += [thumbnail_key_for(writer.key) for writer in writers if writer.thumbnail is not None]
    return keys


def ingest(
    engine: Engine,
    catalog: Catalog,
    storage: ClipStorage,
    clock: Callable[[], datetime],
    submissions: Sequence[Submission],
) -> list[Outcome]:
    """Store a group of uploads; one outcome per submission, in order."""
    outcomes: list[Outcome | None] = [None] * len(submissions)
    steps = _in_one_transaction if engine.dialect.name == "postgresql" else _in_steps
    writers, repeats = steps(engine, catalog, storage, clock, submissions, outcomes)
    for repeat in repeats:
        first = outcomes[writers[(repeat.camera_id, repeat.upload.started_at)].index]
        outcomes[repeat.index] = (
            _repeat(first) if isinstance(first, Stored) else cast(Exception, first)
        )
    assert all(outcome is not None for outcome in outcomes)
    return cast(list[Outcome], outcomes)


class _Group(NamedTuple):
    #: The upload that stores, by (camera, started_at) ...
    writers: dict[tuple[uuid.UUID, datetime], _Accepted]
    #: ... and the same upload again in the group, answered as the first one.
    repeats: list[_Accepted]


def _group(accepted: list[_Accepted]) -> _Group:
    group = _Group({}, [])
    for candidate in accepted:
        slot = (candidate.camera_id, candidate.upload.started_at)
        if slot in group.writers:  # the same upload twice in one group: the first one stores
            group.repeats.append(candidate)
        else:
            group.writers[slot] = candidate
    return group


def _in_steps(
    engine: Engine,
    catalog: Catalog,
    storage: ClipStorage,
    clock: Callable[[], datetime],
    submissions: Sequence[Submission],
    outcomes: list[Outcome | None],
) -> _Group:
    """Steps 1-3 of the module's docstring (SQLite)."""
    with statement_connection(engine) as connection:
        now = clock()
        accepted = _accept(connection, catalog, submissions, now, outcomes)
    group = _group(accepted)
    written = _write_in_time(storage, clock, now, list(group.writers.values()), outcomes)
    if written:
        try:
            # SQLite: BEGIN IMMEDIATE, one writer at a time, as every plan change.
            with engine.begin() as connection:
                _settle(connection, catalog, storage, written, now, outcomes)
        except BaseException:
            storage.delete_many(_keys(written))  # no row names them
            raise
    return group


def _in_one_transaction(
    engine: Engine,
    catalog: Catalog,
    storage: ClipStorage,
    clock: Callable[[], datetime],
    submissions: Sequence[Submission],
    outcomes: list[Outcome | None],
) -> _Group:
    """The group in one transaction, its coverage read once under the locks (PostgreSQL)."""
    written: list[_Accepted] = []
    try:
        with engine.begin() as connection:
            now = clock()
            locked = lock_tokens(connection, [s.token_digest for s in submissions])
            group = _group(_accept(connection, catalog, submissions, now, outcomes))
            written = _write_in_time(storage, clock, now, list(group.writers.values()), outcomes)
            if {writer.camera_id for writer in written} <= locked:
                if written:
                    _insert(connection, storage, written, now, outcomes)
            else:  # a camera bound after the locks were taken: its lock, and a second read
                _settle(connection, catalog, storage, written, now, outcomes)
    except BaseException:
        storage.delete_many(_keys(written))  # no row names them
        raise
    return group


def _write_in_time(
    storage: ClipStorage,
    clock: Callable[[], datetime],
    now: datetime,
    writers: list[_Accepted],
    outcomes: list[Outcome | None],
) -> list[_Accepted]:
    """Step 2: the writers whose bytes are stored durably, in time for the sweeper."""
    written = _write(storage, writers, outcomes)
    if written and clock() - now >= SAFETY_LAG:
        # The sweeper counts on a clip committing within SAFETY_LAG of the `now` it was
        # checked at (`clips.watermark`): keep nothing, and let the camera send it again.
        storage.delete_many(_keys(written))
        for writer in written:
            outcomes[writer.index] = UploadTooSlow()
        return []
    return written


def store_written(
    connection: Connection,
    catalog: Catalog,
    storage: ClipStorage,
    digest: str,
    camera_id: uuid.UUID,
    upload: Upload,
    key: str,
    now: datetime,
) -> Outcome:
    """Step 3 for one upload whose bytes are stored under `key` already (a direct upload to
    object storage, `clips.direct_upload`), in the caller's transaction: the same coverage
    lock, re-check and row as a group's. Refused, its bytes are deleted and the outcome is
    the refusal; a repeat of a stored clip answers that clip, its own bytes deleted."""
    outcomes: list[Outcome | None] = [None]
    # `expires_at` is decided by the re-check; `data` is not needed, the bytes are stored.
    writer = _Accepted(
        index=0, digest=digest, camera_id=camera_id, upload=upload, data=b"", expires_at=now
    )
    writer.key = key
    _settle(connection, catalog, storage, [writer], now, outcomes)
    assert outcomes[0] is not None
    return outcomes[0]


def _settle(
    connection: Connection,
    catalog: Catalog,
    storage: ClipStorage,
    written: list[_Accepted],
    now: datetime,
    outcomes: list[Outcome | None],
) -> None:
    """Step 3 (see the module's docstring): the coverage lock, the re-check, the rows."""
    lock_cameras(connection, {writer.camera_id for writer in written}, shared=True)
    kept = _recheck(connection, catalog, storage, written, now, outcomes)
    if kept:
        _insert(connection, storage, kept, now, outcomes)


def _accept(
    connection: Connection,
    catalog: Catalog,
    submissions: Sequence[Submission],
    now: datetime,
    outcomes: list[Outcome | None],
) -> list[_Accepted]:
    cameras = _cameras(connection, [submission.token_digest for submission in submissions])
    accepted = []
    for index, submission in enumerate(submissions):
        camera = cameras.get(submission.token_digest)
        try:
            if submission.refusal is not None and camera is not None:
                raise submission.refusal
            expires_at = _expiry(catalog, camera, submission.upload, now)
        except KasaCareError as refusal:
            outcomes[index] = refusal
            continue
        assert camera is not None
        accepted.append(
            _Accepted(
                index,
                submission.token_digest,
                camera.id,
                submission.upload,
                submission.data,
                expires_at,
                thumbnail=submission.thumbnail,
            )
        )
    return accepted


def _recheck(
    connection: Connection,
    catalog: Catalog,
    storage: ClipStorage,
    written: list[_Accepted],
    now: datetime,
    outcomes: list[Outcome | None],
) -> list[_Accepted]:
    """The written uploads as their cameras' coverage now decides, read again under the
    coverage lock (`coverage_lock`): a plan change that committed since the group's first
    read gives them its window, or refuses them (their bytes are deleted)."""
    cameras = _cameras(connection, [writer.digest for writer in written])
    kept: list[_Accepted] = []
    refused: list[_Accepted] = []
    for writer in written:
        camera = cameras.get(writer.digest)
        if camera is not None and camera.id != writer.camera_id:  # unbound and bound again
            camera = None
        try:
            writer.expires_at = _expiry(catalog, camera, writer.upload, now)
        except KasaCareError as refusal:
            outcomes[writer.index] = refusal
            refused.append(writer)
            continue
        kept.append(writer)
    if refused:
        storage.delete_many(_keys(refused))
    return kept


def _cameras(connection: Connection, digests: list[str]) -> dict[str, _Camera]:
    """The live cameras of these device-token digests, with what covers each."""
    statement = _CAMERAS[connection.dialect.name]
    rows = connection.execute(statement, {"digests": list(set(digests))})
    return {camera.digest: camera for camera in map(_Camera._make, rows)}


def _expiry(catalog: Catalog, camera: _Camera | None, upload: Upload, now: datetime) -> datetime:
    """When an upload of this camera would expire; raises the refusal if it is refused."""
    if camera is None:
        raise Unauthorized("Unknown or revoked device token")
    coverage = coverage_of(catalog, camera.plan, camera.status, camera.legacy_plan)
    entitlement = entitlement_of(catalog, camera.model, camera.setup_at, coverage, now)
    require_recording(entitlement, manual=upload.kind is ClipKind.MANUAL)
    check_upload(entitlement, upload, now)
    return clip_expiry(upload.started_at, entitlement)


def _twins(
    connection: Connection, slots: list[tuple[uuid.UUID, datetime]]
) -> dict[tuple[uuid.UUID, datetime], _Twin]:
    """The stored clips that these (camera, started_at) pairs repeat."""
    if not slots:
        return {}
    wanted = set(slots)
    rows = connection.execute(
        _TWINS,
        {
            "camera_ids": list({camera_id for camera_id, _ in slots}),
            "starts": list({started_at for _, started_at in slots}),
        },
    )
    twins = map(_Twin._make, rows)
    return {(t.camera_id, t.started_at): t for t in twins if (t.camera_id, t.started_at) in wanted}


def _write(
    storage: ClipStorage, writers: list[_Accepted], outcomes: list[Outcome | None]
) -> list[_Accepted]:
    """The writers' bytes under fresh keys, made durable together (`put_many`); if that
    fails, every writer of the group answers the error (500) and no byte of it is kept."""
    for writer in writers:
        writer.key = storage_key_for(writer.camera_id)
    blobs = [Blob(w.key, w.data, w.upload.content_type) for w in writers]
    blobs += [
        Blob(thumbnail_key_for(w.key), w.thumbnail, THUMBNAIL_TYPE)
        for w in writers
        if w.thumbnail is not None
    ]
    try:
        storage.put_many(blobs)
    except Exception as error:
        storage.delete_many(_keys(writers))
        for writer in writers:
            outcomes[writer.index] = error
        return []
    return writers


def _insert(
    connection: Connection,
    storage: ClipStorage,
    written: list[_Accepted],
    now: datetime,
    outcomes: list[Outcome | None],
) -> None:
    rows = [_row(writer, now) for writer in written]
    dialect = connection.dialect.name
    parameters = (
        {name: [row[name] for row in rows] for name in _COLUMNS}
        if dialect == "postgresql"
        else rows
    )
    result = connection.execute(_INSERT[dialect], parameters)
    inserted = {(row.camera_id, row.started_at) for row in result}
    losers = [w for w in written if (w.camera_id, w.upload.started_at) not in inserted]
    # Each repeats a clip stored before it (a retry, or a twin of another process): answer
    # that clip, and delete the bytes no row names.
    twins = _twins(connection, [(w.camera_id, w.upload.started_at) for w in losers])
    for writer, row in zip(written, rows, strict=True):
        slot = (writer.camera_id, writer.upload.started_at)
        outcomes[writer.index] = (
            _repeat(twins[slot])
            if slot not in inserted
            else Stored(row["id"], writer.camera_id, slot[1], row["expires_at"], True)
        )
    if losers:
        storage.delete_many(_keys(losers))
    # Issue 12 item 3: a manual clip posted with its request's id answers that request.
    links = [
        (writer.upload.request_id, writer.camera_id, row["id"])
        for writer, row in zip(written, rows, strict=True)
        if writer.upload.request_id is not None
        and (writer.camera_id, writer.upload.started_at) in inserted
    ]
    link_clips(connection, links, now)


def _row(writer: _Accepted, now: datetime) -> dict[str, Any]:
    upload = writer.upload
    return {
        "id": uuid.uuid4(),
        "camera_id": writer.camera_id,
        "started_at": upload.started_at,
        "duration_s": upload.duration_s,
        "kind": upload.kind,
        "size": upload.size,
        "content_type": upload.content_type,
        "storage_key": writer.key,
        "expires_at": writer.expires_at,
        "created_at": now,
        "thumbnail_key": writer.thumbnail_key,
    }


def _repeat(clip: _Twin | Stored) -> Stored:
    return Stored(clip.id, clip.camera_id, clip.started_at, clip.expires_at, created=False)
