"""Owner pages: Kasa Care (plans, Select Services, review and confirm), notifications."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from kasacare.accounts.models import Account
from kasacare.billing.charging import Planning, run_charged
from kasacare.billing.documents import card_label
from kasacare.cameras import service as cameras
from kasacare.cameras.models import Camera
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
from kasacare.payments import service as payments
from kasacare.subscriptions.quote import Quote
from kasacare.subscriptions.service import Subscriptions
from kasacare.subscriptions.use_cases.cancel import plan_cancel, plan_cancel_legacy
from kasacare.subscriptions.use_cases.change import (
    plan_add_camera,
    plan_change,
    plan_remove_camera,
)
from kasacare.subscriptions.use_cases.plan import BillingPlan, IssueCredit, IssueInvoice
from kasacare.subscriptions.use_cases.scope import Scope
from kasacare.subscriptions.use_cases.subscribe import plan_subscribe
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import notice_url, problem_url
from kasacare.web.past_due import past_due
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
        chosen=_chosen(request),
        past_due=past_due(session, live),
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
        billing_plan = _plan(scope, form, confirmed=True)
        quote = billing_plan.quote
        erased = _erased_with_downloads(context, session, now, account, quote)
        session.rollback()
    except (KasaCareError, ValueError) as error:
        session.rollback()
        return _refused(form, error)
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
        bought=_bought(context, session, now, account, form, quote),
        lines=_lines(billing_plan),
        back_url="/app/kasa-care?" + urlencode(_choices(form), doseq=True),
    )


def _choices(form: FormData) -> dict[str, Any]:
    """The choices of a Kasa Care form (plan, cycle, cameras, trial), to put back on the
    page after a refusal or the review's Back (issue 14 item 4)."""
    choices: dict[str, Any] = {
        name: str(form[name]) for name in ("plan", "cycle", "trial") if form.get(name)
    }
    ids = [str(value) for value in form.getlist("camera_ids")]
    if ids:
        choices["camera_ids"] = ids
    return choices


def _refused(form: FormData, error: KasaCareError | ValueError) -> RedirectResponse:
    """Post/redirect/get: a refused form goes back to the Kasa Care page (a refresh
    resubmits nothing) with the refusal's code and the choices made."""
    code = error.code if isinstance(error, KasaCareError) else "validation_error"
    query = {**_choices(form), "problem": code}
    return RedirectResponse(
        "/app/kasa-care?" + urlencode(query, doseq=True) + "#choose", status_code=303
    )


def _chosen(request: Request) -> dict[str, Any] | None:
    """The choices a refusal or Back brought back in the address (checked by the page's
    forms only: nothing here is trusted beyond preselecting)."""
    query = request.query_params
    if not any(name in query for name in ("plan", "cycle", "camera_ids", "trial")):
        return None
    return {
        "plan": query.get("plan"),
        "cycle": query.get("cycle"),
        "camera_ids": query.getlist("camera_ids"),
        "trial": query.get("trial") == "1",
    }


def _bought(
    context: AppContext,
    session: Session,
    now: datetime,
    account: Account,
    form: FormData,
    quote: Quote,
) -> dict[str, Any]:
    """What the review buys, in words (issue 14 item 4): plan, cycle, cameras by name, the
    trial's end and first charge, and the card that pays."""
    owned = {str(c.id): c for c in cameras.list_owned(session, account)}
    ids = [str(v) for v in form.getlist("camera_ids")] or (
        [str(form["camera_id"])] if form.get("camera_id") else []
    )
    plan = context.catalog.plans.get(str(form.get("plan", "")))
    trial = form.get("action") == "create" and form.get("trial") == "1"
    method = payments.get_payment_method(session, account)
    return {
        "plan": plan.name if plan else None,
        "cycle": str(form.get("cycle", "monthly")) if plan else None,
        "cameras": [
            f"{camera.name} · {context.catalog.model_label(camera.device.model)}"
            for camera in sorted((owned[i] for i in ids if i in owned), key=_by_name)
        ],
        "trial": trial,
        "trial_end": now + timedelta(days=context.catalog.trial_days) if trial else None,
        "card": card_label(method.brand.value, method.last4) if method else None,
        "next_invoice": quote.next_invoice,
    }


def _by_name(camera: Camera) -> str:
    return camera.name.casefold()


def _lines(billing_plan: BillingPlan) -> list[dict[str, Any]]:
    """The document lines the change issues now: charges, and credits as negatives."""
    found = []
    for effect in billing_plan.effects:
        if isinstance(effect, IssueInvoice):
            found += [(line, 1) for line in effect.lines]
        elif isinstance(effect, IssueCredit):
            found += [(line, -1) for line in effect.lines]
    return [
        {
            "description": line.description,
            "net": line.split.net if sign > 0 else -line.split.net,
            "tax": line.split.tax if sign > 0 else -line.split.tax,
            "gross": line.amount if sign > 0 else -line.amount,
            "rate": line.tax.label() if line.tax else None,
        }
        for line, sign in found
    ]


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
        return _refused(form, error)
    after_commit(context, now)
    done = DONE.get(str(form.get("action")), "plan_updated")
    if done == "subscribed" and form.get("trial") == "1":
        done = "trial_started"
    return RedirectResponse(notice_url("/app/kasa-care", done), status_code=303)


#: What a confirmed review did, as the notice on the page it lands on.
DONE = {
    "create": "subscribed",
    "change": "plan_changed",
    "add_camera": "camera_added_to_plan",
    "remove_camera": "camera_removed_from_plan",
    "cancel": "cancelled",
    "cancel_legacy": "legacy_cancelled",
}


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
        # Post/redirect/get (issue 14 item 4); a button, so nothing typed to keep.
        code = "no_subscription" if error.code == "not_found" else error.code
        anchor = "#choose" if code == "no_subscription" else "#current"
        return RedirectResponse(problem_url("/app/kasa-care", code) + anchor, status_code=303)
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
