"""The activity center: a grid of a camera's clips by day in the owner's time zone, cursor
paging, a date picker and a kind filter; fresh playback and download URLs on demand; and the
"Download all" zip of the clips an erasure is about to take."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from kasacare.accounts.models import Role
from kasacare.cameras import service as cameras
from kasacare.clips import service as clips
from kasacare.clips.archive import Member, safe_name, zip_clips
from kasacare.clips.endpoints import get_clip
from kasacare.clips.models import Clip, ClipKind
from kasacare.clips.rules import available
from kasacare.clips.signing import CLIP_URL_KEYS, PLAYBACK_URL_TTL, sign
from kasacare.clips.thumbnails import thumbnail_url
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.entitlements.service import camera_entitlement
from kasacare.kit.errors import KasaCareError, Unauthorized
from kasacare.kit.signing_keys import Keyring
from kasacare.kit.zones import day_end, local
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import problem_url
from kasacare.web.render import page
from kasacare.web.session import signed_in

router = APIRouter(include_in_schema=False)

#: Clips a page of the grid shows.
PAGE_SIZE = 50
NO_CACHE = {"Cache-Control": "private, no-store"}
#: What a clip shows until the media job has made its thumbnail (or the camera sent one).
POSTER = "/static/poster.svg"


def _parse_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/app/activity", response_class=HTMLResponse)
def activity_page(
    request: Request,
    context: Context,
    session: DbSession,
    now: Now,
    camera: uuid.UUID | None = None,
    kind: str = "",
    day: str | None = None,
    cursor: str | None = None,
    direction: str = "older",
) -> Response:
    """Newest first, `PAGE_SIZE` at a time; a chosen day starts the page at the end of that
    day in the account's zone (older pages go on past it, newer ones come back)."""
    account = signed_in_owner(request, session, now)
    kind_ = next((k for k in ClipKind if k.value == kind), None)  # "" (the form's All): any
    owned = cameras.list_owned(session, account)
    chosen = next((c for c in owned if c.id == camera), owned[0] if owned else None)
    picked = _parse_day(day)
    if picked is not None and cursor is None:
        cursor, direction = clips.cursor_before(day_end(picked, account.time_zone)), "older"
    days: dict[date, list[dict[str, Any]]] = defaultdict(list)
    older = newer = None
    download = False
    if chosen is not None:
        download = camera_entitlement(session, context.catalog, chosen, now).clip_download
        listing = clips.list_clips(
            session,
            chosen,
            now,
            start=None,
            end=None,
            cursor=cursor,
            limit=PAGE_SIZE,
            kind=kind_,
            newer=direction == "newer",
        )
        keys = context.signing_keys.keyring(CLIP_URL_KEYS)
        for clip in listing.clips:
            at = local(clip.started_at, account.time_zone)
            entry = _entry(clip, at, now, keys)
            entry["poster"] = thumbnail_url(context.storage, clip, keys, now) or POSTER
            days[at.date()].append(entry)
        base = {"camera": str(chosen.id), **({"kind": kind_.value} if kind_ else {})}
        if listing.next_cursor:
            older = "/app/activity?" + urlencode({**base, "cursor": listing.next_cursor})
        if listing.newer_cursor:
            newer = "/app/activity?" + urlencode(
                {**base, "cursor": listing.newer_cursor, "direction": "newer"}
            )
    return page(
        request,
        session,
        "activity.html",
        account=account,
        cameras=owned,
        chosen=chosen,
        kinds=list(ClipKind),
        kind=kind_,
        day=picked.isoformat() if picked else "",
        days=sorted(days.items(), reverse=True),
        older=older,
        newer=newer,
        download=download,
        url_ttl=PLAYBACK_URL_TTL // timedelta(seconds=1),
    )


def _entry(clip: Clip, at: datetime, now: datetime, keys: Keyring) -> dict[str, Any]:
    """A grid cell: a playable clip carries a URL good for 300 s (the page asks for a fresh
    one when it has run out, `/app/clips/{id}/urls`); a gone one carries none (V3a)."""
    playable = available(clip.expires_at, clip.erased_at, now) and clip.deleted_at is None
    url = (
        "/v1/clip-media/" + sign(clip.storage_key, now + PLAYBACK_URL_TTL, keys)
        if playable
        else None
    )
    return {"clip": clip, "at": at, "available": playable, "url": url}


@router.get("/app/clips/{clip_id}/urls")
def clip_urls(
    clip_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """Fresh signed URLs for the page's player (the body of `GET /v1/clips/{id}`), with the
    session cookie instead of a bearer token; problem+json on a refusal (410 for a clip no
    longer available), never a redirect: the page shows a message instead of a grey player."""
    account = signed_in(request, session, now)
    if account is None or account.role is not Role.OWNER:
        raise Unauthorized("Sign in again to play this clip")
    read = get_clip(clip_id, account, context, session, now)
    return JSONResponse(read.model_dump(mode="json"), headers=NO_CACHE)


@router.get("/app/clips/{clip_id}/download")
def download_clip(
    clip_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """The Download button: a fresh download URL each time it is pressed (so it never goes
    stale on an open page), where the plan grants download."""
    account = signed_in_owner(request, session, now)
    try:
        read = get_clip(clip_id, account, context, session, now)
    except KasaCareError as error:
        session.rollback()
        return _back_to_activity(error.code)
    if read.download_url is None:
        return _back_to_activity("download_not_on_plan")
    return RedirectResponse(read.download_url, status_code=303, headers=NO_CACHE)


def _back_to_activity(problem: str) -> Response:
    return RedirectResponse(problem_url("/app/activity", problem), status_code=303)


@router.get("/app/cameras/{camera_id}/clips.zip")
def download_all(
    camera_id: uuid.UUID,
    request: Request,
    context: Context,
    session: DbSession,
    now: Now,
    before: datetime | None = None,
) -> Response:
    """Download all: a zip of the camera's clips still held, or of those that started before
    `before` (what a plan change erases), streamed as it is written. Offered before an
    erasure whatever the plan: the clips are about to be gone for good."""
    account = signed_in_owner(request, session, now)
    camera = cameras.get_owned(session, account, camera_id)
    if before is not None and before.tzinfo is None:
        before = None
    held = clips.held_clips(session, camera.id, now, before=before)
    zone, name = account.time_zone, safe_name(camera.name)
    session.commit()  # nothing else is read: the archive streams from storage alone
    return StreamingResponse(
        _archive(context, name, zone, held),
        media_type="application/zip",
        headers={**NO_CACHE, "Content-Disposition": f'attachment; filename="{name}-clips.zip"'},
    )


def _archive(
    context: AppContext, folder: str, zone: str, held: list[clips.HeldClip]
) -> Iterator[bytes]:
    members = []
    for clip in held:
        at = local(clip.started_at, zone)
        stamp = at.strftime("%Y-%m-%d %H-%M-%S")
        members.append(
            Member(f"{folder}/{stamp} {clip.kind.value} {clip.id}.mp4", clip.storage_key, at)
        )
    return zip_clips(context.storage, members)
