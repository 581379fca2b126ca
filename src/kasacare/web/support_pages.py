"""The support console: search, an account's timeline, and the agent's actions (resolve an
app-store legacy case, goodwill credit, force-unbind a resold camera). Agents see clip
entries' existence only through the timeline, never video; every action is audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from starlette.datastructures import FormData

from kasacare.accounts.models import Account, Role
from kasacare.billing import service as billing
from kasacare.billing.charging import Planning
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips import service as clip_service
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.jobs import after_commit
from kasacare.kit.errors import KasaCareError, NotFound, ValidationFailed
from kasacare.kit.money import Money, format_money, parse_major
from kasacare.legacy.repository import LegacyRepository
from kasacare.notifications.service import for_account
from kasacare.subscriptions.models import Subscription
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.service import Subscriptions
from kasacare.subscriptions.use_cases.change import plan_remove_camera
from kasacare.support import service as support
from kasacare.support.policy import goodwill_cap_years
from kasacare.web import kept_forms
from kasacare.web.guard import signed_in_as
from kasacare.web.messages import PROBLEMS, notice_url
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)


def _agent(request: Request, session: Session, now: datetime) -> Account:
    return signed_in_as(request, session, now, Role.SUPPORT)


@router.get("/support", response_class=HTMLResponse)
def console(request: Request, session: DbSession, now: Now, q: str = "") -> Response:
    agent = _agent(request, session, now)
    results = support.search(session, q)
    return page(request, session, "support.html", account=agent, q=q, results=results)


# Words for the timeline: an agent reads what happened, not the codes it is stored under.
_STATUS = {"trialing": "free trial", "active": "active", "past_due": "payment failed"}
_STATUS |= {"ended": "ended"}
_ENDED = {
    "cancelled": "cancelled by the owner",
    "cycle_change": "replaced by the other billing cycle",
    "dunning": "the payment failed after every retry",
    "not_renewed": "auto-renew was off",
}
_INVOICE = {"open": "unpaid", "paid": "paid", "void": "voided"}
_CREDIT_NOTE = {"refund": "refunded to the card", "credit": "added to the balance"}
_CHANNEL = {"direct": "paid by card", "app_store": "bought in an app store"}
_NOTICE = {
    "trial_ending": "the free trial ends soon",
    "annual_renewal": "the annual plan renews soon",
    "card_expiring": "the card expires soon",
    "payment_failed": "a payment failed",
    "payment_received": "a payment was received (receipt)",
    "refund_issued": "a refund is on its way",
    "credit_added": "credit was added",
    "subscription_ended": "a subscription ended",
    "subscription_ending": "a subscription ends soon",
    "history_erased": "video history was erased",
}
_ACTION = {
    "goodwill_credit": "gave a goodwill credit",
    "force_unbind": "force-unbound a resold camera",
    "legacy_resolve": "resolved a legacy case",
    "legacy_import": "imported a legacy plan",
    "legacy_extend": "extended an app-store legacy plan",
}


def _plan(catalog: Catalog, plan: str, cycle: str) -> str:
    known = catalog.plans.get(plan) or catalog.legacy_plans.get(plan)
    return f"{known.name if known else plan} ({cycle})"


def _timeline(session: Session, catalog: Catalog, account: Account) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for sub in session.scalars(select(Subscription).where(Subscription.account_id == account.id)):
        plan = _plan(catalog, sub.plan.value, sub.cycle.value)
        how = " as a free trial" if sub.trial_end else ""
        now_ = _STATUS.get(sub.status.value, sub.status.value)
        events.append({"at": sub.created_at, "what": f"{plan} started{how} (now {now_})"})
        if sub.ended_at:
            why = _ENDED.get(sub.end_reason.value if sub.end_reason else "", "it ended")
            events.append({"at": sub.ended_at, "what": f"{plan} ended: {why}"})
    for legacy in LegacyRepository(session).all_for(account.id):
        plan = _plan(catalog, legacy.plan, legacy.cycle.value)
        channel = _CHANNEL.get(legacy.channel.value, legacy.channel.value)
        status = _STATUS.get(legacy.status.value, legacy.status.value)
        events.append(
            {"at": legacy.created_at, "what": f"Legacy {plan} imported, {channel} (now {status})"}
        )
    for invoice in billing.invoices(session, account):
        total = format_money(Money(invoice.total, invoice.currency))
        state = _INVOICE.get(invoice.status.value, invoice.status.value)
        events.append(
            {"at": invoice.created_at, "what": f"Invoice {invoice.number}: {total}, {state}"}
        )
    for note in billing.credit_notes(session, account):
        total = format_money(Money(note.total, note.currency))
        kind = _CREDIT_NOTE.get(note.kind.value, note.kind.value)
        events.append({"at": note.created_at, "what": f"Credit note {note.number}: {total} {kind}"})
    for notice in for_account(session, account.id):
        told = _NOTICE.get(notice.kind.value, notice.kind.value)
        events.append({"at": notice.created_at, "what": f"Told the owner: {told}"})
    entries = support.audit_log(session, account_id=account.id, limit=200)
    names = support.actor_names(session, {entry.actor for entry in entries})
    for entry in entries:
        did = _ACTION.get(entry.action, entry.action)
        events.append({"at": entry.at, "what": f"{names[entry.actor]} {did}: {entry.note}"})
    return sorted(events, key=lambda e: e["at"], reverse=True)


def _account_page(
    request: Request,
    context: AppContext,
    session: Session,
    now: datetime,
    agent: Account,
    account_id: uuid.UUID,
) -> HTMLResponse:
    account = session.get(Account, account_id)
    if account is None or account.role is not Role.OWNER:
        raise NotFound("No such account")
    owned = list(
        session.scalars(
            select(Camera)
            .options(joinedload(Camera.device))
            .where(Camera.account_id == account.id, Camera.unbound_at.is_(None))
            .order_by(Camera.created_at, Camera.id)  # bind time, as the owner's pages
        )
    )
    live = SubscriptionRepository(session).live(account.id)
    years = goodwill_cap_years(context.settings)
    cap, _, allowed = support.goodwill_policy(session, context.catalog, now, account, years)
    typed = kept_forms.refused(request)
    if typed is not None and typed.action != _actions_path(account.id):
        typed = None
    return page(
        request,
        session,
        "support_account.html",
        account=agent,
        customer=account,
        cameras=sorted(owned, key=lambda camera: (camera.name.casefold(), str(camera.id))),
        legacy=LegacyRepository(session).live(account.id),
        plan=(
            f"{_plan(context.catalog, live.plan.value, live.cycle.value)}, "
            f"{_STATUS.get(live.status.value, live.status.value)}"
            if live
            else None
        ),
        goodwill=(cap, allowed),
        balance=billing.balance(session, account),
        timeline=_timeline(session, context.catalog, account),
        kept=typed.fields if typed else {},
        invalid=typed.invalid if typed else None,
    )


@router.get("/support/accounts/{account_id}", response_class=HTMLResponse)
def account_page(
    account_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    agent = _agent(request, session, now)
    return _account_page(request, context, session, now, agent, account_id)


@router.post("/support/accounts/{account_id}/actions")
async def act(
    account_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    agent = _agent(request, session, now)
    actor = f"support:{agent.id}"
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        note = str(form.get("note", "")).strip()
        if not note:
            raise _Refused("support_note_required", "note")
        customer = SubscriptionRepository(session).lock_account(account_id)
        action = str(form.get("action", ""))
        if action == "resolve_legacy":
            amount = _amount(form.get("amount"), customer)
            legacy_id = uuid.UUID(str(form.get("legacy_id")))
            if legacy_id not in {x.id for x in LegacyRepository(session).all_for(customer.id)}:
                raise NotFound("No such legacy subscription on this account")
            support.resolve_legacy(
                session,
                context.catalog,
                now,
                actor,
                legacy_id,
                support.Outcome(str(form.get("outcome", "terminate"))),
                amount,
                note,
            )
        elif action == "goodwill_credit":
            amount = _amount(form.get("amount"), customer)
            if amount is None or amount.amount <= 0:
                raise _Refused("support_amount_required", "amount")
            if form.get("confirmed") != "1":
                facts = _goodwill_facts(context, session, now, customer, amount)
                return _confirm(request, session, agent, customer, form, facts)
            support.goodwill_credit(
                session,
                context.catalog,
                now,
                actor,
                customer.id,
                amount,
                note,
                cap_years=goodwill_cap_years(context.settings),
            )
        elif action == "force_unbind":
            camera_id = uuid.UUID(str(form.get("camera_id")))
            if camera_id not in {c.id for c in _bound_cameras(session, customer)}:
                raise NotFound("No such camera on this account")
            if form.get("confirmed") != "1":
                facts = _unbind_facts(context, session, now, customer, camera_id)
                return _confirm(request, session, agent, customer, form, facts)
            support.force_unbind(session, context.catalog, now, actor, camera_id, note)
        else:
            raise ValidationFailed("Unknown action.")
        session.commit()
    except (KasaCareError, ValueError) as error:
        session.rollback()
        return _refused(request, account_id, form, error)
    after_commit(context, now)
    return RedirectResponse(
        notice_url(f"/support/accounts/{account_id}", "support_done"), status_code=303
    )


class _Refused(ValidationFailed):
    """A check of the console's own form; `problem`: its banner (`messages.PROBLEMS`) and
    `field`: the input it is about."""

    def __init__(self, problem: str, field: str) -> None:
        super().__init__(PROBLEMS[problem], field=field)
        self.problem = problem
        self.field = field


#: What a refused action's form gives back: which form (action and its legacy plan or
#: camera), and what the agent typed or chose.
KEPT_FIELDS = ("action", "legacy_id", "camera_id", "outcome", "amount", "note")


def _actions_path(account_id: uuid.UUID) -> str:
    return f"/support/accounts/{account_id}/actions"


def _refused(
    request: Request, account_id: uuid.UUID, form: FormData, error: KasaCareError | ValueError
) -> RedirectResponse:
    """Post/redirect/get (issue 14 item 4): back to the account's page at the form, with
    the refusal's code and what was typed kept for that page (a cookie, never the
    address), so a refresh posts nothing and the note is not typed twice."""
    problem, invalid = _problem(error, form)
    typed = {name: str(form.get(name, "")) for name in KEPT_FIELDS if form.get(name)}
    return kept_forms.refused_redirect(
        request,
        f"/support/accounts/{account_id}",
        problem,
        typed,
        anchor=_anchor(form),
        invalid=invalid,
    )


def _problem(error: KasaCareError | ValueError, form: FormData) -> tuple[str, str | None]:
    """The banner's code for a refused action and the field it is about: a redirect
    carries a code, not the refusal's own words (the page shows the figures they gave)."""
    if isinstance(error, _Refused):
        return error.problem, error.field
    if not isinstance(error, KasaCareError):
        return "validation_error", None  # an id or outcome the page never sends
    if error.code == "validation_error" and error.extra.get("field") == "amount":
        if "maximum" in error.extra:  # a legacy refund or credit over what was paid
            return "support_amount_over_paid", "amount"
        if form.get("outcome") == "terminate":
            return "support_amount_not_for_terminate", "amount"
        return "support_amount_required", "amount"
    if error.code == "goodwill_limit_exceeded":
        return error.code, "amount"
    if error.code == "not_found":
        return "support_not_on_account", None
    return error.code, None


def _anchor(form: FormData) -> str:
    """The refused form's place on the page: its legacy plan, the goodwill box, or its
    camera (ids only as ids: they go into the address)."""
    action = form.get("action")
    if action == "goodwill_credit":
        return "goodwill"
    name, prefix = (
        ("legacy_id", "legacy") if action == "resolve_legacy" else ("camera_id", "camera")
    )
    try:
        return f"{prefix}-{uuid.UUID(str(form.get(name, '')))}"
    except ValueError:
        return ""


def _confirm(
    request: Request,
    session: Session,
    agent: Account,
    customer: Account,
    form: FormData,
    facts: dict[str, Any],
) -> HTMLResponse:
    """Nothing is done yet: the agent reads what the action will do, then confirms it (the
    same form posted again with `confirmed=1`)."""
    session.rollback()  # the account's lock: nothing was written
    fields = {k: str(v) for k, v in form.items() if k not in (CSRF_FIELD, "confirmed")}
    return page(
        request,
        session,
        "support_confirm.html",
        account=agent,
        customer=customer,
        fields=fields,
        **facts,
    )


def _goodwill_facts(
    context: AppContext, session: Session, now: datetime, customer: Account, amount: Money
) -> dict[str, Any]:
    years = goodwill_cap_years(context.settings)
    cap, given, allowed = support.check_goodwill(
        session, context.catalog, now, customer, amount, years
    )
    return {
        "title": f"Give {format_money(amount)} goodwill credit to {customer.email}?",
        "facts": [
            "It goes onto the account's credit balance at once and pays the next invoices "
            "before the card. It is never refunded to a card, not even if the owner cancels.",
            f"The policy allows {format_money(cap)} a year for this account ({years} year of "
            f"its plan at the annual price); {format_money(given)} was given in the last 12 "
            f"months, so {format_money(allowed)} may still be given.",
        ],
        "button": f"Give {format_money(amount)}",
    }


def _unbind_facts(
    context: AppContext, session: Session, now: datetime, customer: Account, camera_id: uuid.UUID
) -> dict[str, Any]:
    support.check_unbindable(session, camera_id)
    camera = session.scalars(
        select(Camera).options(joinedload(Camera.device)).where(Camera.id == camera_id)
    ).one()
    held = len(clip_service.held_clips(session, camera_id, now))
    facts = [
        f"The camera leaves {customer.email} now; whoever holds it can register it again.",
        f"Its video history is erased at once and for good: {held} clip(s).",
    ]
    live = SubscriptionRepository(session).live(customer.id)
    if live is not None and camera_id in live.camera_ids:
        scope = Subscriptions(session, context.catalog, Planning(), now, customer).scope
        quote = plan_remove_camera(scope, camera_id).quote
        if quote.refund_now.amount:
            facts.append(
                f"It was the last camera of the plan, so the plan is cancelled: "
                f"{format_money(quote.refund_now)} is refunded to the card."
            )
        else:
            facts.append(
                f"It leaves the owner's plan: {format_money(quote.credit_added)} prorated "
                "credit goes onto their balance."
            )
    else:
        facts.append("No plan covers it: no money moves.")
    return {
        "title": f"Force-unbind {camera.name}: {context.catalog.model_label(camera.device.model)}"
        f", {camera.device.serial}?",
        "facts": facts,
        "button": "Force-unbind the camera",
    }


def _amount(raw: object, customer: Account) -> Money | None:
    text = str(raw or "").strip()
    if not text:
        return None
    assert customer.currency is not None
    try:
        return parse_major(text, customer.currency)
    except ValueError:
        raise _Refused("support_amount_format", "amount") from None


def _bound_cameras(session: Session, customer: Account) -> list[Camera]:
    return list(
        session.scalars(
            select(Camera).where(Camera.account_id == customer.id, Camera.unbound_at.is_(None))
        )
    )
