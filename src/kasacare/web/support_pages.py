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

from kasacare.accounts.models import Account, Role
from kasacare.accounts.service import normalize_email
from kasacare.billing import service as billing
from kasacare.cameras.models import Camera, Device
from kasacare.context import Context, DbSession, Now
from kasacare.jobs import after_commit
from kasacare.kit.errors import KasaCareError, NotFound, ValidationFailed
from kasacare.kit.money import Money, format_money, parse_major
from kasacare.legacy.repository import LegacyRepository
from kasacare.notifications.service import for_account
from kasacare.subscriptions.models import Subscription
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.support import service as support
from kasacare.support.policy import goodwill_cap_years
from kasacare.web.guard import signed_in_as
from kasacare.web.messages import friendly, notice_url
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)


def _agent(request: Request, session: Session, now: datetime) -> Account:
    return signed_in_as(request, session, now, Role.SUPPORT)


@router.get("/support", response_class=HTMLResponse)
def console(request: Request, session: DbSession, now: Now, q: str = "") -> Response:
    agent = _agent(request, session, now)
    results: list[Account] = []
    if q.strip():
        by_email = session.scalars(
            select(Account).where(Account.email == normalize_email(q), Account.role == Role.OWNER)
        ).all()
        by_serial = session.scalars(
            select(Account)
            .join(Camera, Camera.account_id == Account.id)
            .join(Device, Device.id == Camera.device_id)
            .where(Device.serial == q.strip().upper(), Camera.unbound_at.is_(None))
        ).all()
        results = list({a.id: a for a in [*by_email, *by_serial]}.values())
    return page(request, session, "support.html", account=agent, q=q, results=results)


def _timeline(session: Session, account: Account) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for sub in session.scalars(select(Subscription).where(Subscription.account_id == account.id)):
        events.append(
            {
                "at": sub.created_at,
                "what": f"Subscription {sub.plan.value} "
                f"({sub.cycle.value}) started, status {sub.status.value}",
            }
        )
        if sub.ended_at:
            events.append(
                {
                    "at": sub.ended_at,
                    "what": f"Subscription {sub.plan.value} ended "
                    f"({sub.end_reason.value if sub.end_reason else ''})",
                }
            )
    for legacy in LegacyRepository(session).all_for(account.id):
        events.append(
            {
                "at": legacy.created_at,
                "what": f"Legacy {legacy.plan} imported "
                f"({legacy.channel.value}), status {legacy.status.value}",
            }
        )
    for invoice in billing.invoices(session, account):
        events.append(
            {
                "at": invoice.created_at,
                "what": f"Invoice {invoice.number}: "
                f"{format_money(Money(invoice.total, invoice.currency))} {invoice.status.value}",
            }
        )
    for note in billing.credit_notes(session, account):
        events.append(
            {
                "at": note.created_at,
                "what": f"Credit note {note.number} ({note.kind.value}): "
                f"{format_money(Money(note.total, note.currency))}",
            }
        )
    for notice in for_account(session, account.id):
        events.append({"at": notice.created_at, "what": f"Notified: {notice.kind.value}"})
    for entry in support.audit_log(session, account_id=account.id, limit=200):
        events.append({"at": entry.at, "what": f"{entry.actor}: {entry.action} — {entry.note}"})
    return sorted(events, key=lambda e: e["at"], reverse=True)


def _account_page(
    request: Request,
    session: Session,
    now: datetime,
    agent: Account,
    account_id: uuid.UUID,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    account = session.get(Account, account_id)
    if account is None or account.role is not Role.OWNER:
        raise NotFound("No such account")
    owned = list(
        session.scalars(
            select(Camera)
            .options(joinedload(Camera.device))
            .where(Camera.account_id == account.id, Camera.unbound_at.is_(None))
        )
    )
    return page(
        request,
        session,
        "support_account.html",
        account=agent,
        customer=account,
        cameras=owned,
        legacy=LegacyRepository(session).live(account.id),
        live=SubscriptionRepository(session).live(account.id),
        balance=billing.balance(session, account),
        timeline=_timeline(session, account),
        error=error,
        status_code=status_code,
    )


@router.get("/support/accounts/{account_id}", response_class=HTMLResponse)
def account_page(account_id: uuid.UUID, request: Request, session: DbSession, now: Now) -> Response:
    return _account_page(request, session, now, _agent(request, session, now), account_id)


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
            raise ValidationFailed("Write a note: every action says why.")
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
            if amount is None:
                raise ValidationFailed("A goodwill credit needs a positive amount.")
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
            support.force_unbind(session, context.catalog, now, actor, camera_id, note)
        else:
            raise ValidationFailed("Unknown action.")
        session.commit()
    except (KasaCareError, ValueError) as error:
        session.rollback()
        message = friendly(error) if isinstance(error, KasaCareError) else "Check the form."
        status = error.status if isinstance(error, KasaCareError) else 422
        return _account_page(request, session, now, agent, account_id, message, status)
    after_commit(context, now)
    return RedirectResponse(
        notice_url(f"/support/accounts/{account_id}", "support_done"), status_code=303
    )


def _amount(raw: object, customer: Account) -> Money | None:
    text = str(raw or "").strip()
    if not text:
        return None
    assert customer.currency is not None
    try:
        return parse_major(text, customer.currency)
    except ValueError:
        raise ValidationFailed("Write the amount like 12.50 (at most 10,000,000.00).") from None


def _bound_cameras(session: Session, customer: Account) -> list[Camera]:
    return list(
        session.scalars(
            select(Camera).where(Camera.account_id == customer.id, Camera.unbound_at.is_(None))
        )
    )
