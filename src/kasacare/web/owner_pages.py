"""Owner pages: Kasa Care (plans, Select Services, review and confirm), notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from kasacare.accounts.models import Account
from kasacare.billing.charging import Planning, run_charged
from kasacare.cameras import service as cameras
from kasacare.clips import service as clips
from kasacare.clips.signing import CLIP_URL_KEYS, PLAYBACK_URL_TTL, sign
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.entitlements.service import camera_entitlements
from kasacare.jobs import after_commit
from kasacare.kit.calendar import Cycle
from kasacare.kit.errors import KasaCareError, ValidationFailed
from kasacare.legacy import service as legacy
from kasacare.notifications.facts import facts_for
from kasacare.notifications.service import for_account, mark_read
from kasacare.notifications.wording import describe
from kasacare.subscriptions.quote import Quote
from kasacare.subscriptions.service import Subscriptions
from kasacare.subscriptions.use_cases.cancel import plan_cancel, plan_cancel_legacy
from kasacare.subscriptions.use_cases.change import (
    plan_add_camera,
    plan_change,
    plan_remove_camera,
)
from kasacare.subscriptions.use_cases.plan import BillingPlan
from kasacare.subscriptions.use_cases.scope import Scope
from kasacare.subscriptions.use_cases.subscribe import plan_subscribe
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import friendly, notice_url
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)

FEATURES = {
    "cloud_recording": "Cloud recording",
    "manual_recording": "Manual recording",
    "clip_download": "Download clips",
    "rich_notifications": "Rich notifications",
}
#: Clips of an erasure the review links one by one (the zip has them all).
LINKED_DOWNLOADS = 100
ACTIONS = {
    "create": "Review your new plan",
    "change": "Review the change",
    "add_camera": "Review adding a camera",
    "remove_camera": "Review removing a camera",
    "cancel": "Review cancelling",
    "cancel_legacy": "Review cancelling your legacy plans",
}


# ---- Kasa Care ---------------------------------------------------------------------------


def _care_page(
    request: Request,
    context: AppContext,
    session: Session,
    now: datetime,
    account: Account,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    use_cases = Subscriptions.reading(session, context.catalog, now, account)
    live = use_cases.repo.live(account.id)
    currency = account.currency or "USD"
    plans = []
    for plan in context.catalog.plans.values():
        monthly, annual = plan.price(currency, Cycle.MONTHLY), plan.price(currency, Cycle.ANNUAL)
        if monthly and annual:
            plans.append(
                {
                    "id": plan.id,
                    "name": plan.name,
                    "monthly": monthly,
                    "annual": annual,
                    "per_camera": plan.per_camera,
                    "max_cameras": plan.max_cameras,
                    "history_days": plan.history_days,
                    "features": [f.value for f in plan.features],
                }
            )
    legacy_items = [
        {"legacy": item, "refund": legacy.refundable_now(item, now)}
        for item in legacy.live_for(session, account)
    ]
    return page(
        request,
        session,
        "kasa_care.html",
        account=account,
        live=live,
        next_invoice=use_cases.next_invoice(live) if live else None,
        cameras=cameras.list_owned(session, account),
        plans=plans,
        legacy=legacy_items,
        plan_names={p.id: p.name for p in context.catalog.plans.values()},
        legacy_names={p.id: p.name for p in context.catalog.legacy_plans.values()},
        feature_names=FEATURES,
        trial_eligible=account.trial_eligible,
        trial_days=context.catalog.trial_days,
        error=error,
        status_code=status_code,
    )


@router.get("/app/kasa-care", response_class=HTMLResponse)
def care_page(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    return _care_page(request, context, session, now, signed_in_owner(request, session, now))


def _plan(scope: Scope, form: FormData, *, confirmed: bool) -> BillingPlan:
    """The form's action planned by the same use cases as the API. `confirmed`: a migration
    goes ahead (the review shows its quote; applying it needs the owner's confirmation)."""
    action = str(form.get("action", ""))
    camera_ids = [uuid.UUID(str(v)) for v in form.getlist("camera_ids")]
    camera_id = uuid.UUID(str(form["camera_id"])) if form.get("camera_id") else None
    plan, cycle = str(form.get("plan", "")), str(form.get("cycle", "monthly"))
    if cycle not in ("monthly", "annual"):
        raise ValidationFailed("Choose monthly or annual billing.")
    match action:
        case "create":
            return plan_subscribe(
                scope,
                plan,
                Cycle(cycle),
                camera_ids,
                trial=form.get("trial") == "1",
                confirm_legacy_termination=confirmed,
            )
        case "change":
            return plan_change(scope, plan, Cycle(cycle), camera_ids)
        case "add_camera" if camera_id:
            return plan_add_camera(scope, camera_id)
        case "remove_camera" if camera_id:
            return plan_remove_camera(scope, camera_id)
        case "cancel":
            return plan_cancel(scope)
        case "cancel_legacy":
            return plan_cancel_legacy(scope)
    raise ValidationFailed("Choose what to change.")


@router.post("/app/kasa-care/review", response_class=HTMLResponse)
async def review(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    """C5: the quote first, computed by the action's own code; nothing changes here."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        scope = Scope.locked(session, context.catalog, now, account)
        migrating = form.get("action") == "create" and bool(legacy.live_for(session, account))
        quote = _plan(scope, form, confirmed=True).quote
        erased = _erased_with_downloads(context, session, now, account, quote)
        session.rollback()
    except (KasaCareError, ValueError) as error:
        session.rollback()
        message = friendly(error) if isinstance(error, KasaCareError) else "Check the form."
        status = error.status if isinstance(error, KasaCareError) else 422
        return _care_page(request, context, session, now, account, message, status)
    fields = [(k, str(v)) for k, v in form.multi_items() if k not in (CSRF_FIELD,)]
    return page(
        request,
        session,
        "review.html",
        account=account,
        quote=quote,
        title=ACTIONS.get(str(form.get("action")), "Review"),
        fields=fields,
        erased=erased,
        migrating=migrating,
    )


def _erased_with_downloads(
    context: AppContext, session: Session, now: datetime, account: Account, quote: Quote
) -> list[dict[str, Any]]:
    """Each camera whose history shrinks, with how many clips go, a "Download all" zip of them
    (whatever the plan: they are about to be erased), and, where the plan grants download,
    a link to each of the newest `LINKED_DOWNLOADS`."""
    owned = {c.id: c for c in cameras.list_owned(session, account)}
    entitlements = camera_entitlements(session, context.catalog, list(owned.values()), now)
    keys = context.signing_keys.keyring(CLIP_URL_KEYS)
    result = []
    for erasure in quote.erased:
        camera = owned.get(erasure.camera_id)
        if camera is None:
            continue
        held = clips.held_clips(session, camera.id, now, before=erasure.before)
        downloads = []
        if entitlements[camera.id].clip_download:
            for clip in held[:LINKED_DOWNLOADS]:
                token = sign(clip.storage_key, now + PLAYBACK_URL_TTL, keys, purpose="download")
                downloads.append(
                    {"started_at": clip.started_at, "url": f"/v1/clip-media/{token}?download=1"}
                )
        zip_url = f"/app/cameras/{camera.id}/clips.zip?" + urlencode(
            {"before": erasure.before.isoformat()}
        )
        result.append(
            {
                "name": camera.name,
                "before": erasure.before,
                "count": len(held),
                "zip_url": zip_url if held else None,
                "downloads": downloads,
            }
        )
    return result


@router.post("/app/kasa-care/apply")
async def apply(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        run_charged(
            session,
            context.gateway,
            now,
            lambda s, payer: _apply(Subscriptions(s, context.catalog, payer, now, account), form),
        )
        session.commit()
    except (KasaCareError, ValueError) as error:
        session.rollback()
        message = friendly(error) if isinstance(error, KasaCareError) else "Check the form."
        status = error.status if isinstance(error, KasaCareError) else 422
        return _care_page(request, context, session, now, account, message, status)
    after_commit(context, now)
    return RedirectResponse(notice_url("/app/kasa-care", "plan_updated"), status_code=303)


@router.post("/app/kasa-care/auto-renew")
async def auto_renew(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    """Issue 14 item 5: no money moves, so no review page; the page says what follows."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        enabled = form.get("enabled") == "1"
        Subscriptions(session, context.catalog, Planning(), now, account).set_auto_renew(enabled)
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return _care_page(request, context, session, now, account, friendly(error), error.status)
    notice = "auto_renew_on" if enabled else "auto_renew_off"
    return RedirectResponse(notice_url("/app/kasa-care", notice), status_code=303)


def _apply(use_cases: Subscriptions, form: FormData) -> None:
    confirmed = form.get("confirm_legacy_termination") == "1"
    use_cases.apply(_plan(use_cases.scope, form, confirmed=confirmed))


# ---- notifications -------------------------------------------------------------------


@router.get("/app/notifications", response_class=HTMLResponse)
def notifications_page(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """Every notification worded as the mail words it (issue 14 item 3). Opening the page
    marks them read: the ones unread until now stay marked "New" on this visit, so nothing
    is lost, and no extra click is needed for what the page exists to show."""
    account = signed_in_owner(request, session, now)
    items = for_account(session, account.id)
    facts = facts_for(session, context.catalog, items)
    shown = [
        (
            item,
            describe(item.kind, item.data, item.created_at, facts[item.id]),
            item.read_at is None,
        )
        for item in items
    ]
    mark_read(session, account.id, now)
    return page(request, session, "notifications.html", account=account, items=shown)
