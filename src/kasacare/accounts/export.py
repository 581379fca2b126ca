"""Exporting one's data (GDPR Art. 20, issue 13 item 3).

`POST /v1/me/export` queues a `DataExport` row; the export job builds, in a transaction of
its own per row, a zip of the account's data as JSON (account, cameras, subscriptions,
invoices and credit notes with their lines, notifications) and of the clips still held, with
their thumbnails, and stores it in the clip storage under `exports/<account>/<export>.zip`.
It then queues a mail (`accounts.mails`) with a link `GET /v1/exports/{token}` valid 24 h;
only the token's SHA-256 is kept. A failing row waits its back-off and is tried again. After
24 h the link answers 410 and the job deletes the file.

The zip is written to a temporary file a chunk at a time; the storage's `put` takes bytes,
so the finished file is read once to store it.
"""

from __future__ import annotations

import enum
import json
import logging
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session, sessionmaker

from kasacare.accounts import mails
from kasacare.accounts.export_models import DataExport
from kasacare.accounts.models import Account, MailKind
from kasacare.billing.models import (
    BillingAddress,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
)
from kasacare.cameras.models import Camera
from kasacare.clips.archive import CHUNK, safe_name
from kasacare.clips.models import Clip
from kasacare.clips.storage import ClipBlobMissing, ClipStorage
from kasacare.kit.backoff import backoff
from kasacare.kit.db import session_scope
from kasacare.kit.errors import KasaCareError, NotFound
from kasacare.kit.security import new_token, token_digest
from kasacare.notifications.models import Notification
from kasacare.subscriptions.models import Subscription, SubscriptionCamera

log = logging.getLogger("kasacare.export")

LINK_LIFETIME = timedelta(hours=24)
#: Columns never exported: secrets, and digests of secrets.
_WITHHELD = frozenset({"password_hash", "digest", "secret", "token", "link_token"})


class ExportExpired(KasaCareError):
    code = "export_expired"
    status = 410
    title = "This export has expired"


class ExportState(enum.StrEnum):
    REQUESTED = "requested"
    READY = "ready"
    EXPIRED = "expired"


def state(row: DataExport, now: datetime) -> ExportState:
    if row.ready_at is None:
        return ExportState.REQUESTED
    if row.expires_at is None or row.expires_at <= now or row.file_deleted_at is not None:
        return ExportState.EXPIRED
    return ExportState.READY


def request_export(session: Session, account: Account, now: datetime) -> DataExport:
    """Queue an export; one still being built is returned instead of a second one."""
    pending = session.scalar(
        select(DataExport).where(DataExport.account_id == account.id, DataExport.ready_at.is_(None))
    )
    if pending is not None:
        return pending
    row = DataExport(account_id=account.id, requested_at=now)
    session.add(row)
    session.flush()
    return row


def latest(session: Session, account_id: uuid.UUID) -> DataExport | None:
    return session.scalar(
        select(DataExport)
        .where(DataExport.account_id == account_id)
        .order_by(DataExport.requested_at.desc(), DataExport.id.desc())
        .limit(1)
    )


def download(session: Session, account_id: uuid.UUID, secret: str, now: datetime) -> str:
    """The storage key of the export the link names: 404 when it is not the caller's, 410
    once its 24 hours are over."""
    row = session.scalar(select(DataExport).where(DataExport.digest == token_digest(secret)))
    if row is None or row.account_id != account_id or row.storage_key is None:
        raise NotFound("No such export")
    if state(row, now) is not ExportState.READY:
        raise ExportExpired("This export link has expired. Ask for a new export.")
    return row.storage_key


def forget(session: Session, account_id: uuid.UUID, now: datetime) -> None:
    """The account is being deleted (`accounts.deletion`): no export is built any more and
    every export ends now; the export job's `delete_expired` (also run after the deletion's
    commit, `jobs.after_commit`) deletes their files."""
    for row in session.scalars(
        select(DataExport).where(
            DataExport.account_id == account_id, DataExport.file_deleted_at.is_(None)
        )
    ):
        row.ready_at = row.ready_at or now
        row.expires_at = now
        row.digest = None


# --- the job ---------------------------------------------------------------------------------


def run_exports(sessions: sessionmaker[Session], storage: ClipStorage, now: datetime) -> int:
    """Build every export due at `now` (each in its own transaction), then delete the files
    of expired ones. Returns how many were built."""
    with session_scope(sessions) as session:
        due = list(
            session.scalars(
                select(DataExport.id)
                .where(
                    DataExport.ready_at.is_(None),
                    or_(DataExport.job_retry_at.is_(None), DataExport.job_retry_at <= now),
                )
                .order_by(DataExport.requested_at)
            )
        )
    built = 0
    for export_id in due:
        try:
            with session_scope(sessions) as session:
                _build(session, storage, export_id, now)
            built += 1
        except Exception:
            log.exception("export %s failed; it waits its back-off", export_id)
            with session_scope(sessions) as session:
                row = session.get(DataExport, export_id)
                if row is not None:
                    row.job_failures += 1
                    row.job_retry_at = now + backoff(row.job_failures)
    delete_expired(sessions, storage, now)
    return built


def _build(session: Session, storage: ClipStorage, export_id: uuid.UUID, now: datetime) -> None:
    row = session.get(DataExport, export_id, with_for_update=True)
    if row is None or row.ready_at is not None:
        return
    account = session.get(Account, row.account_id)
    if account is None:
        return
    key = f"exports/{account.id}/{row.id}.zip"
    with tempfile.TemporaryFile() as file:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for name, document in documents(session, account.id):
                zf.writestr(name, json.dumps(document, indent=2, default=_json))
            for name, blob_key, at in _clip_members(session, account.id, now):
                _add_blob(zf, storage, name, blob_key, at)
        file.seek(0)
        # Stored before the commit: a failure after this leaves an orphan file only for
        # the next try to overwrite (same key).
        storage.put(key, file.read(), "application/zip")
    secret = new_token("kc_export")
    row.storage_key = key
    row.digest = token_digest(secret)
    row.ready_at = now
    row.expires_at = now + LINK_LIFETIME
    row.job_retry_at = None
    mails.queue(session, account.id, MailKind.EXPORT_READY, account.email, now, secret=secret)


def delete_expired(sessions: sessionmaker[Session], storage: ClipStorage, now: datetime) -> int:
    """Delete the files of exports past their 24 hours; the rows stay (state `expired`)."""
    with session_scope(sessions) as session:
        rows = list(
            session.scalars(
                select(DataExport).where(
                    DataExport.expires_at <= now,
                    DataExport.file_deleted_at.is_(None),
                    DataExport.storage_key.is_not(None),
                )
            )
        )
        keys = [row.storage_key for row in rows if row.storage_key is not None]
        if keys:
            storage.delete_many(keys)
        for row in rows:
            row.file_deleted_at = now
        return len(rows)


# --- what goes in ----------------------------------------------------------------------------


def documents(session: Session, account_id: uuid.UUID) -> Iterator[tuple[str, object]]:
    """The account's data as JSON documents, by file name; only rows of this account."""
    account = session.get(Account, account_id)
    yield "account.json", _row(account)
    cameras = _all(
        session,
        select(Camera)
        .where(Camera.account_id == account_id)
        .order_by(Camera.created_at, Camera.id),
    )
    yield "cameras.json", cameras
    address = session.get(BillingAddress, account_id)
    yield "billing_address.json", _row(address) if address is not None else None
    subscriptions = session.scalars(
        select(Subscription).where(Subscription.account_id == account_id)
    ).all()
    yield (
        "subscriptions.json",
        [
            _row(sub)
            | {
                "cameras": _all(
                    session,
                    select(SubscriptionCamera).where(SubscriptionCamera.subscription_id == sub.id),
                )
            }
            for sub in subscriptions
        ],
    )
    invoices = session.scalars(select(Invoice).where(Invoice.account_id == account_id)).all()
    yield (
        "invoices.json",
        [
            _row(inv)
            | {"lines": _all(session, select(InvoiceLine).where(InvoiceLine.invoice_id == inv.id))}
            for inv in invoices
        ],
    )
    notes = session.scalars(select(CreditNote).where(CreditNote.account_id == account_id)).all()
    yield (
        "credit_notes.json",
        [
            _row(note)
            | {
                "lines": _all(
                    session,
                    select(CreditNoteLine).where(CreditNoteLine.credit_note_id == note.id),
                )
            }
            for note in notes
        ],
    )
    yield (
        "notifications.json",
        _all(session, select(Notification).where(Notification.account_id == account_id)),
    )


def _clip_members(
    session: Session, account_id: uuid.UUID, now: datetime
) -> Sequence[tuple[str, str, datetime]]:
    """(name in the zip, storage key, start) of each clip still held and its thumbnail."""
    rows = session.execute(
        select(Clip, Camera.name)
        .join(Camera, Camera.id == Clip.camera_id)
        .where(
            Camera.account_id == account_id,
            Clip.erased_at.is_(None),
            Clip.deleted_at.is_(None),
            Clip.expires_at > now,
        )
        .order_by(Clip.started_at, Clip.id)
    ).all()
    members: list[tuple[str, str, datetime]] = []
    for clip, camera_name in rows:
        stem = f"clips/{safe_name(camera_name)}/{clip.started_at:%Y%m%dT%H%M%SZ}_{clip.id.hex[:8]}"
        members.append((f"{stem}.mp4", clip.storage_key, clip.started_at))
        if clip.thumbnail_key:
            members.append((f"{stem}.jpg", clip.thumbnail_key, clip.started_at))
    return members


def _add_blob(zf: zipfile.ZipFile, storage: ClipStorage, name: str, key: str, at: datetime) -> None:
    """One clip or thumbnail, stored (MP4 and JPEG are compressed already), read a chunk at
    a time where the storage has local files. One erased meanwhile is left out."""
    info = zipfile.ZipInfo(name, date_time=at.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    path = storage.local_file(key)
    if path is None:
        try:
            data = storage.get(key)
        except ClipBlobMissing:
            return
        zf.writestr(info, data)
        return
    try:
        source = path.open("rb")
    except FileNotFoundError:
        return
    with source, zf.open(info, "w", force_zip64=True) as entry:
        while chunk := source.read(CHUNK):
            entry.write(chunk)


def _all(session: Session, query: Any) -> list[dict[str, object]]:
    return [_row(row) for row in session.scalars(query)]


def _row(row: object) -> dict[str, object]:
    mapper = inspect(type(row))
    return {
        attr.key: getattr(row, attr.key)
        for attr in mapper.column_attrs
        if attr.key not in _WITHHELD
    }


def _json(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
