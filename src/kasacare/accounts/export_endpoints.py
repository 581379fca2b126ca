"""Data export routes (GDPR Art. 20, `accounts.export`): ask for an export, see its state,
download it from the mailed link."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from kasacare.accounts import export
from kasacare.accounts.dependencies import AnyAccount
from kasacare.accounts.export_models import DataExport
from kasacare.clips.media import ClipFileResponse
from kasacare.clips.storage import ClipStorage
from kasacare.context import Context, DbSession, Now
from kasacare.kit.errors import NotFound
from kasacare.kit.http import problem_responses

router = APIRouter(tags=["accounts"])

#: How long a presigned S3 link to the zip lives: long enough to start the download.
PRESIGN_SECONDS = 300


class ExportRead(BaseModel):
    state: export.ExportState
    requested_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None


def _read(row: DataExport, now: datetime) -> ExportRead:
    return ExportRead(
        state=export.state(row, now),
        requested_at=row.requested_at,
        ready_at=row.ready_at,
        expires_at=row.expires_at,
    )


@router.post(
    "/v1/me/export",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401),
)
def request_export(account: AnyAccount, session: DbSession, now: Now) -> ExportRead:
    """Ask for a copy of the account's data: the export job builds a zip and mails a link
    valid 24 hours. While one is being built, asking again returns it."""
    row = export.request_export(session, account, now)
    answer = _read(row, now)
    session.commit()
    return answer


@router.get("/v1/me/export", responses=problem_responses(401, 404))
def export_state(account: AnyAccount, session: DbSession, now: Now) -> ExportRead:
    """The latest export's state: requested, ready or expired."""
    row = export.latest(session, account.id)
    if row is None:
        raise NotFound("No export was asked for")
    return _read(row, now)


@router.get(
    "/v1/exports/{token}",
    response_class=Response,
    responses=problem_responses(401, 404, 410),
)
def download_export(
    token: str, account: AnyAccount, context: Context, session: DbSession, now: Now
) -> Response:
    """The zip, signed in as its account (another account's link answers 404); on S3 a
    redirect to a presigned GET. After 24 hours: 410 `export_expired`. The mailed link opens
    the web's `/app/account/export/{token}`, which signs in first and does the same."""
    key = export.download(session, account.id, token, now)
    session.rollback()
    return zip_response(context.storage, key)


def zip_response(storage: ClipStorage, key: str) -> Response:
    """The export's zip: a redirect to a presigned GET on S3, the file itself on disk."""
    url = storage.presigned_get(key, PRESIGN_SECONDS, attachment="kasacare-export.zip")
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    path = storage.local_file(key)
    if path is None or not path.is_file():
        raise NotFound("No such export")
    return ClipFileResponse(
        path,
        media_type="application/zip",
        filename="kasacare-export.zip",
        headers={"Cache-Control": "private, no-store"},
    )
