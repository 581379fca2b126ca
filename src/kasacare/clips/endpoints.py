"""Clip routes: the camera's upload, the activity center, playback and manual recording."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse

from kasacare.accounts.dependencies import Owner
from kasacare.cameras.dependencies import DeviceCamera, DeviceTokenDigest
from kasacare.cameras.service import get_owned
from kasacare.clips import direct_upload, manual, service
from kasacare.clips.errors import (
    ClipNoLongerAvailable,
    ClipTooLarge,
    NotJpeg,
    NotMp4,
    ThumbnailTooLarge,
    UnsupportedClipType,
)
from kasacare.clips.ingest import GATHER_SECONDS, MAX_GROUP, Stored, Submission, ingest
from kasacare.clips.jpeg import MAX_THUMBNAIL_BYTES, looks_like_jpeg
from kasacare.clips.manual_rules import answer_until
from kasacare.clips.media import ClipFileResponse
from kasacare.clips.models import Clip, ClipKind, ManualRecording
from kasacare.clips.mp4 import looks_like_mp4
from kasacare.clips.schemas import (
    ClipEntry,
    ClipMedia,
    ClipPage,
    ClipRead,
    ClipUploaded,
    ClipUploadStart,
    ClipUploadTicket,
    ManualRecordingRead,
)
from kasacare.clips.signing import CLIP_URL_KEYS, PLAYBACK_URL_TTL, sign, verify
from kasacare.clips.thumbnails import THUMBNAIL_PATH, THUMBNAIL_TYPE, thumbnail_url
from kasacare.context import AppContext, Context, DbSession, Now, get_context
from kasacare.entitlements.service import camera_entitlement
from kasacare.kit.batching import Batcher
from kasacare.kit.errors import KasaCareError, ValidationFailed
from kasacare.kit.http import problem_responses
from kasacare.kit.schemas import Instant

router = APIRouter(tags=["clips"])

ACCEPTED_TYPES = {"video/mp4"}
MEDIA_PATH = "/v1/clip-media/{token}"
UPLOAD_PATH = "/v1/device/clips"
#: What an upload's body may carry beside its video (`kit.body_limit`): the form fields, the
#: multipart boundaries and a thumbnail of up to 256 KiB.
UPLOAD_FORM_ALLOWANCE = 320 * 1024


def ingest_batcher(context: AppContext) -> Batcher[Submission, Stored]:
    """The app's clip ingest (`clips.ingest`), grouping the uploads of this process."""
    return Batcher(
        lambda group: ingest(
            context.engine, context.catalog, context.storage, context.clock.now, group
        ),
        max_items=MAX_GROUP,
        gather_seconds=GATHER_SECONDS,
    )


def clip_ingest(app: FastAPI) -> Batcher[Submission, Stored]:
    batcher: Batcher[Submission, Stored] = app.state.clip_ingest
    return batcher


@router.post(
    UPLOAD_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=ClipUploaded,
    responses={
        **problem_responses(401, 403, 413, 415, 503),
        200: {"model": ClipUploaded, "description": "A retried upload"},
    },
    tags=["device"],
)
async def upload_clip(
    request: Request,
    token: DeviceTokenDigest,
    started_at: Annotated[Instant, Form()],
    duration_s: Annotated[int, Form(ge=1, le=3600)],
    video: Annotated[UploadFile, File()],
    kind: Annotated[ClipKind, Form()] = ClipKind.MOTION,
    thumbnail: Annotated[UploadFile | None, File()] = None,
    request_id: Annotated[
        uuid.UUID | None,
        Form(description="The manual recording request a `manual` clip answers (issue 12)"),
    ] = None,
) -> Response:
    """V1: a camera with cloud recording uploads a clip; the same camera and `started_at`
    again answers 200 with the same clip and stores nothing more. A video that does not start
    with an MP4 `ftyp` box is refused (415 `not_mp4`) before anything is stored.
    An optional `thumbnail` part (a JPEG of at most 256 KiB, else 415 `not_jpeg` or 413
    `thumbnail_too_large`) is stored beside the clip as its poster; without one, the media
    job extracts a frame.

    A coroutine that does no blocking work itself: the upload joins the group of uploads
    this process stores together (`clips.ingest`), in the thread pool."""
    context = get_context(request)
    limit = context.settings.clip_max_bytes
    data = await video.read(limit + 1)
    content_type = video.content_type or ""
    upload = service.Upload(
        started_at=started_at,
        duration_s=duration_s,
        kind=kind,
        size=len(data),
        content_type=content_type or "video/mp4",
        request_id=request_id,
    )
    refusal: KasaCareError | None = None
    if request_id is not None and kind is not ClipKind.MANUAL:
        refusal = ValidationFailed("request_id goes with kind manual", field="request_id")
    elif started_at.tzinfo is None:
        refusal = ValidationFailed("started_at needs a timezone (RFC 3339)", field="started_at")
    elif content_type not in ACCEPTED_TYPES:
        refusal = UnsupportedClipType(f"video must be one of {sorted(ACCEPTED_TYPES)}")
    elif len(data) > limit:
        refusal = ClipTooLarge(f"A clip is at most {limit} bytes")
    elif not data:
        refusal = ValidationFailed("video is empty", field="video")
    elif not looks_like_mp4(data):
        refusal = NotMp4("video must start with an ISO BMFF ftyp box")
    poster = None
    if thumbnail is not None and refusal is None:
        poster = await thumbnail.read(MAX_THUMBNAIL_BYTES + 1)
        if len(poster) > MAX_THUMBNAIL_BYTES:
            refusal = ThumbnailTooLarge(f"A thumbnail is at most {MAX_THUMBNAIL_BYTES} bytes")
        elif not looks_like_jpeg(poster):
            refusal = NotJpeg("thumbnail must be a JPEG file")
    stored = await clip_ingest(request.app).submit(
        Submission(token, upload, b"" if refusal else data, refusal, None if refusal else poster)
    )
    body = ClipUploaded(
        id=stored.id,
        camera_id=stored.camera_id,
        started_at=stored.started_at,
        expires_at=stored.expires_at,
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK,
    )


@router.get(
    "/v1/cameras/{camera_id}/clips",
    response_model=ClipPage,
    responses=problem_responses(401, 403, 404),
)
def list_clips(
    camera_id: uuid.UUID,
    owner: Owner,
    context: Context,
    session: DbSession,
    now: Now,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    kind: ClipKind | None = None,
    direction: Annotated[
        Literal["older", "newer"],
        Query(description="From `cursor`: the older entries after it, or the newer before it"),
    ] = "older",
) -> ClipPage:
    """V7, V3a: newest first; entries no longer available stay, without video, 30 days.
    `next_cursor` pages to older entries, `newer_cursor` (with `direction=newer`) back."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a timezone (RFC 3339)", field=name)
    camera = get_owned(session, owner, camera_id)
    page = service.list_clips(
        session,
        camera,
        now,
        start=start,
        end=end,
        cursor=cursor,
        limit=limit,
        kind=kind,
        newer=direction == "newer",
    )
    keys = context.signing_keys.keyring(CLIP_URL_KEYS)
    return ClipPage(
        items=[
            ClipEntry.of(c, now, thumbnail_url=thumbnail_url(context.storage, c, keys, now))
            for c in page.clips
        ],
        next_cursor=page.next_cursor,
        newer_cursor=page.newer_cursor,
    )


@router.get(
    "/v1/clips/{clip_id}", response_model=ClipRead, responses=problem_responses(401, 403, 404, 410)
)
def get_clip(
    clip_id: uuid.UUID, owner: Owner, context: Context, session: DbSession, now: Now
) -> ClipRead:
    """V4, V7: signed playback (and, where the plan grants it, download) URLs for 300 s.

    On the local disk they point at our media route, which checks erasure again on each
    play. On S3 they are presigned S3 GET URLs (S3 serves Range itself, no byte passes
    through the API): erasure is checked here, when they are issued, and an erased clip's
    bytes are deleted once its erasure commits, so its URL then answers 404 from S3."""
    clip = service.playable(service.owned_clip(session, owner.id, clip_id), now)
    camera = get_owned(session, owner, clip.camera_id)
    entitlement = camera_entitlement(session, context.catalog, camera, now)
    keys = context.signing_keys.keyring(CLIP_URL_KEYS)
    session.commit()
    expires = now + PLAYBACK_URL_TTL
    seconds = int(PLAYBACK_URL_TTL.total_seconds())
    key, storage = clip.storage_key, context.storage
    play = storage.presigned_get(key, seconds) or MEDIA_PATH.format(
        token=sign(key, expires, keys, purpose="play")
    )
    download = None
    if entitlement.clip_download:
        download = (
            storage.presigned_get(key, seconds, attachment=f"{clip.id}.mp4")
            or f"{MEDIA_PATH.format(token=sign(key, expires, keys, purpose='download'))}?download=1"
        )
    poster = thumbnail_url(storage, clip, keys, now)
    return ClipRead(
        **ClipEntry.of(clip, now, thumbnail_url=poster).model_dump(),
        camera_id=clip.camera_id,
        playback_url=play,
        download_url=download,
        url_expires_at=expires,
        media=ClipMedia.of(clip),
    )


@router.get(
    MEDIA_PATH,
    response_class=Response,
    responses={
        **problem_responses(403, 410),
        200: {"content": {"video/mp4": {}}, "description": "The clip's bytes"},
        206: {"content": {"video/mp4": {}}, "description": "The bytes of the one range asked"},
        416: {"description": "The range starts past the end (`Content-Range: bytes */size`)"},
    },
)
@router.head(MEDIA_PATH, response_class=Response, include_in_schema=False)
def clip_media(
    token: str, context: Context, session: DbSession, now: Now, download: bool = False
) -> Response:
    """The target of a signed URL: checks the signature, its expiry and erasure (V7), then
    streams the clip from its file with `Range` support (`clips.media`: one range is 206, a
    range past the end 416, several ranges 200 with the whole clip; HEAD the same headers).
    A backend without local files (S3) sends the whole clip."""
    keys = context.signing_keys.keyring(CLIP_URL_KEYS)
    key = verify(token, keys, now, purpose="download" if download else "play")
    clip = service.clip_by_key(session, key)
    if clip is None:
        raise ClipNoLongerAvailable("No longer available")
    service.playable(clip, now)
    session.commit()
    headers = {"Cache-Control": "private, max-age=0, no-store", "X-Content-Type-Options": "nosniff"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{clip.id}.mp4"'
    path = context.storage.local_file(key)
    if path is None:
        return Response(context.storage.get(key), media_type=clip.content_type, headers=headers)
    try:
        stat = os.stat(path)
    except FileNotFoundError:  # erased since the check above, its bytes deleted after commit
        raise ClipNoLongerAvailable("No longer available") from None
    return ClipFileResponse(path, media_type=clip.content_type, headers=headers, stat_result=stat)


@router.get(
    THUMBNAIL_PATH,
    response_class=Response,
    responses={
        **problem_responses(403, 410),
        200: {"content": {THUMBNAIL_TYPE: {}}, "description": "The clip's poster frame"},
    },
)
@router.head(THUMBNAIL_PATH, response_class=Response, include_in_schema=False)
def clip_thumbnail(token: str, context: Context, session: DbSession, now: Now) -> Response:
    """The target of a `thumbnail_url` on the local disk (`clips.thumbnails`): checks the
    signature, its expiry and that the clip is still available (410 with its clip, V4), then
    sends the JPEG."""
    keys = context.signing_keys.keyring(CLIP_URL_KEYS)
    try:
        clip_id = uuid.UUID(verify(token, keys, now, purpose="thumbnail"))
    except ValueError:  # signed by us, so never; still parsed defensively
        raise ClipNoLongerAvailable("No longer available") from None
    clip = session.get(Clip, clip_id)
    if clip is None or clip.thumbnail_key is None:
        raise ClipNoLongerAvailable("No longer available")
    service.playable(clip, now)
    key = clip.thumbnail_key
    session.commit()
    headers = {"Cache-Control": "private, max-age=0, no-store", "X-Content-Type-Options": "nosniff"}
    path = context.storage.local_file(key)
    if path is None:
        return Response(context.storage.get(key), media_type=THUMBNAIL_TYPE, headers=headers)
    try:
        stat = os.stat(path)
    except FileNotFoundError:  # erased since the check above, deleted after its commit
        raise ClipNoLongerAvailable("No longer available") from None
    return FileResponse(path, media_type=THUMBNAIL_TYPE, headers=headers, stat_result=stat)


@router.post(
    "/v1/cameras/{camera_id}/manual-recordings",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ManualRecordingRead,
    responses=problem_responses(401, 403, 404),
)
def manual_recording(
    camera_id: uuid.UUID, owner: Owner, context: Context, session: DbSession, now: Now
) -> ManualRecordingRead:
    """V5, issue 12 item 3: ask the camera to record now (a `record_now` command); it
    answers, then uploads the clip as kind `manual` with the request's id. The answer is the
    request in its first state, `sent`."""
    camera = get_owned(session, owner, camera_id)
    request = manual.request_recording(session, context.catalog, camera, now)
    read = _request_read(request, now)
    session.commit()
    return read


@router.get(
    "/v1/cameras/{camera_id}/manual-recordings/{request_id}",
    response_model=ManualRecordingRead,
    responses=problem_responses(401, 404),
)
def manual_recording_state(
    camera_id: uuid.UUID, request_id: uuid.UUID, owner: Owner, session: DbSession, now: Now
) -> ManualRecordingRead:
    """Issue 12 item 3: the request's state now (sent, recording, uploaded, expired)."""
    camera = get_owned(session, owner, camera_id)
    return _request_read(manual.camera_request(session, camera, request_id), now)


def _request_read(request: ManualRecording, now: datetime) -> ManualRecordingRead:
    return ManualRecordingRead(
        id=request.id,
        camera_id=request.camera_id,
        requested_at=request.requested_at,
        state=manual.state_of(request, now),
        answer_by=answer_until(request.requested_at),
        recording_started_at=request.recording_started_at,
        clip_id=request.clip_id,
    )


@router.post(
    "/v1/device/clip-uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=ClipUploadTicket,
    responses=problem_responses(401, 403, 409, 413, 415),
    tags=["device"],
)
def begin_clip_upload(
    body: ClipUploadStart, camera: DeviceCamera, context: Context, session: DbSession, now: Now
) -> ClipUploadTicket:
    """Issue 11: a direct upload to object storage. After the checks of `POST
    /v1/device/clips`, answers a presigned URL: PUT the bytes there with exactly `headers`
    before `expires_at`, then complete the upload. 409 `direct_upload_unavailable` where clips
    are stored on the local disk (post them to `/v1/device/clips`)."""
    upload = service.Upload(
        started_at=body.started_at,
        duration_s=body.duration_s,
        kind=body.kind,
        size=body.size,
        content_type=body.content_type,
        request_id=body.request_id,
    )
    ticket = direct_upload.begin(
        session,
        context.catalog,
        context.storage,
        camera,
        upload,
        context.settings.clip_max_bytes,
        now,
    )
    session.commit()
    return ClipUploadTicket(
        upload_id=ticket.upload_id,
        url=ticket.url,
        headers=ticket.headers,
        expires_at=ticket.expires_at,
    )


@router.post(
    "/v1/device/clip-uploads/{upload_id}/complete",
    status_code=status.HTTP_201_CREATED,
    response_model=ClipUploaded,
    responses={
        **problem_responses(401, 403, 404, 409, 410, 415, 422),
        200: {"model": ClipUploaded, "description": "Completed before: the same clip"},
    },
    tags=["device"],
)
def complete_clip_upload(
    upload_id: uuid.UUID, token: DeviceTokenDigest, context: Context
) -> Response:
    """Issue 11: the object is checked (its size and type as declared, an MP4 `ftyp` box) and
    becomes a clip as an upload to `/v1/device/clips` does (201; 200 with the same clip when
    completed again). 409 `upload_object_missing` before the PUT; 409 `upload_size_mismatch`,
    415, 410 `upload_expired` (after `expires_at`) and the upload's own refusals (403
    `no_cloud_recording` after a cancellation, 422 outside the window) delete the object, and
    the upload answers 410 `upload_abandoned` from then on."""
    stored = direct_upload.complete(
        context.engine, context.catalog, context.storage, context.clock.now, token, upload_id
    )
    body = ClipUploaded(
        id=stored.id,
        camera_id=stored.camera_id,
        started_at=stored.started_at,
        expires_at=stored.expires_at,
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK,
    )
