"""Camera pages: the owner's cameras with their entitlement, adding one, removing one after
a review of the video history it erases (C6), and "Record now" with its request's state
(V5, issue 12 item 3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from kasacare.accounts.models import Account
from kasacare.cameras import service as cameras
from kasacare.clips import manual
from kasacare.clips.manual_rules import OPEN
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.devices import service as devices
from kasacare.devices.codes import DeviceClaims
from kasacare.devices.presence import is_online
from kasacare.entitlements.service import camera_entitlements
from kasacare.jobs import after_commit
from kasacare.kit.errors import KasaCareError
from kasacare.kit.zones import local
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import friendly, notice_url, problem_url
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)


def _cameras_page(
    request: Request,
    context: AppContext,
    session: Session,
    now: datetime,
    account: Account,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    owned = cameras.list_owned(session, account)
    entitlements = camera_entitlements(session, context.catalog, owned, now)
    live = SubscriptionRepository(session).live(account.id)
    plan = (
        {
            "name": context.catalog.plans[live.plan].name,
            "status": live.status.value,
            "auto_renew": live.auto_renew,
            "trial_end": local(live.trial_end, account.time_zone) if live.trial_end else None,
            "period_end": local(live.current_period_end, account.time_zone),
        }
        if live
        else None
    )
    items = [
        {
            "camera": c,
            "entitlement": entitlements[c.id],
            "plan": plan if live and c.id in live.camera_ids else None,
            "online": is_online(c.last_seen_at, now),
            "last_seen": local(c.last_seen_at, account.time_zone) if c.last_seen_at else None,
        }
        for c in owned
    ]
    return page(
        request,
        session,
        "cameras.html",
        account=account,
        cameras=items,
        models=list(context.catalog.models),
        claims_required=context.settings.device_claims is DeviceClaims.REQUIRED,
        kept={name: request.query_params.get(name, "") for name in KEPT_FIELDS},
        error=error,
        status_code=status_code,
    )


@router.get("/app/cameras", response_class=HTMLResponse)
def cameras_page(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    return _cameras_page(request, context, session, now, signed_in_owner(request, session, now))


@router.post("/app/cameras")
async def add_camera(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        devices.bind_camera(
            session,
            context.catalog,
            now,
            context.settings.device_claims,
            account=account,
            model=str(form.get("model", "")),
            serial=str(form.get("serial", "")),
            name=str(form.get("name", "")),
            claim_code=str(form.get("claim_code", "")),
        )
        session.commit()
    except devices.ClaimCodeInvalid as error:
        session.commit()  # the failure is counted even though the page refuses
        return _refused(error, form)
    except KasaCareError as error:
        session.rollback()
        return _refused(error, form)
    return RedirectResponse(notice_url("/app/cameras", "camera_added"), status_code=303)


#: What a refused "Add a camera" form gives back (never the claim code: it is the camera's).
KEPT_FIELDS = ("model", "serial", "name")


def _refused(error: KasaCareError, form: FormData) -> RedirectResponse:
    """Post/redirect/get (issue 14 item 4): back to the page with the refusal and what was
    typed, so a refresh does not post again and nothing has to be typed twice."""
    kept = {name: str(form.get(name, ""))[:100] for name in KEPT_FIELDS}
    url = f"{problem_url('/app/cameras', error.code)}&{urlencode(kept)}#add"
    return RedirectResponse(url, status_code=303)


@router.get("/app/cameras/{camera_id}/remove", response_class=HTMLResponse)
def removal_review(
    camera_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """What removing the camera erases (count, first and last clip, Download all), then a
    Confirm button; nothing changes here."""
    account = signed_in_owner(request, session, now)
    try:
        removal = cameras.plan_unbind(session, now, account, camera_id)
    except KasaCareError as error:
        session.rollback()
        return _cameras_page(request, context, session, now, account, friendly(error), error.status)
    erased = removal.erased
    return page(
        request,
        session,
        "remove_camera.html",
        account=account,
        camera=removal.camera,
        count=len(erased),
        newest=local(erased[0].started_at, account.time_zone) if erased else None,
        oldest=local(erased[-1].started_at, account.time_zone) if erased else None,
    )


@router.post("/app/cameras/{camera_id}/unbind")
async def unbind_camera(
    camera_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """Removes the camera once the owner confirmed on the review; a form without the
    confirmation (a stale page) leads to the review when the camera holds clips."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        cameras.unbind(session, now, account, camera_id, confirmed=form.get("confirm") == "1")
        session.commit()
    except cameras.ConfirmationRequired:
        session.rollback()
        return RedirectResponse(f"/app/cameras/{camera_id}/remove", status_code=303)
    except KasaCareError as error:
        session.rollback()
        return _refused_at(camera_id, error)
    after_commit(context, now)
    return RedirectResponse(notice_url("/app/cameras", "camera_removed"), status_code=303)


@router.post("/app/cameras/{camera_id}/record-now")
async def record_now(
    camera_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """V5: the same request as the API's; then its page, which shows the state."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        camera = cameras.get_owned(session, account, camera_id)
        asked = manual.request_recording(session, context.catalog, camera, now)
        path = f"/app/cameras/{camera_id}/recordings/{asked.id}"
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return _refused_at(camera_id, error)
    return RedirectResponse(path, status_code=303)


def _refused_at(camera_id: uuid.UUID, error: KasaCareError) -> RedirectResponse:
    """Post/redirect/get (issue 14 item 4): a camera's refused button goes back to the list
    with the refusal, at that camera (a refresh posts nothing; nothing was typed to keep)."""
    code = "camera_not_found" if error.code == "not_found" else error.code
    return RedirectResponse(
        f"{problem_url('/app/cameras', code)}#camera-{camera_id}", status_code=303
    )


@router.get("/app/cameras/{camera_id}/recordings/{request_id}", response_class=HTMLResponse)
def recording_page(
    camera_id: uuid.UUID, request_id: uuid.UUID, request: Request, session: DbSession, now: Now
) -> Response:
    """The request's state; the page refreshes itself while the camera may still answer."""
    account = signed_in_owner(request, session, now)
    camera = cameras.get_owned(session, account, camera_id)
    asked = manual.camera_request(session, camera, request_id)
    state = manual.state_of(asked, now)
    return page(
        request,
        session,
        "record_now.html",
        account=account,
        camera=camera,
        state=state.value,
        open=state in OPEN,
        requested_at=local(asked.requested_at, account.time_zone),
    )
