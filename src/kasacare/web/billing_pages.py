"""Billing and activity pages: card on file (through the tokenizer), invoices, credit notes,
balance; the activity center with playable clips."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account, Role
from kasacare.billing import service as billing
from kasacare.cameras import service as cameras
from kasacare.clips import service as clips
from kasacare.clips.rules import available
from kasacare.clips.signing import PLAYBACK_URL_TTL, sign
from kasacare.context import Context, DbSession, Now
from kasacare.jobs import retry_on_card_change
from kasacare.kit.errors import KasaCareError
from kasacare.payments import service as payments
from kasacare.subscriptions.service import Subscriptions
from kasacare.web.guard import signed_in_as
from kasacare.web.messages import friendly
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)


def _owner(request: Request, session: Session, now: datetime) -> Account:
    return signed_in_as(request, session, now, Role.OWNER)


def _billing_page(
    request: Request,
    context: Context,
    session: Session,
    now: datetime,
    account: Account,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    use_cases = Subscriptions.reading(session, context.catalog, now, account)
    live = use_cases.repo.live(account.id)
    return page(
        request,
        session,
        "billing.html",
        account=account,
        card=payments.get_payment_method(session, account),
        balance=billing.balance(session, account),
        next_invoice=use_cases.next_invoice(live) if live else None,
        invoices=billing.invoices(session, account),
        credit_notes=billing.credit_notes(session, account),
        error=error,
        status_code=status_code,
    )


@router.get("/app/billing", response_class=HTMLResponse)
def billing_page(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    return _billing_page(request, context, session, now, _owner(request, session, now))


@router.post("/app/billing/card")
async def replace_card(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """The form carries only the tokenizer's token: the card number never reaches this page."""
    account = _owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, session, str(form.get(CSRF_FIELD, "")))
        payments.set_payment_method(
            session, context.gateway, context.catalog, now, account, str(form.get("token", ""))
        )
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return _billing_page(request, context, session, now, account, friendly(error), error.status)
    retry_on_card_change(context, now, account.id)
    return RedirectResponse("/app/billing?notice=Card+saved", status_code=303)


@router.get("/app/billing/invoices/{invoice_id}", response_class=HTMLResponse)
def invoice_page(invoice_id: uuid.UUID, request: Request, session: DbSession, now: Now) -> Response:
    account = _owner(request, session, now)
    document = billing.invoice(session, account, invoice_id)
    return page(request, session, "document.html", account=account, doc=document, kind="Invoice")


@router.get("/app/billing/credit-notes/{note_id}", response_class=HTMLResponse)
def credit_note_page(
    note_id: uuid.UUID, request: Request, session: DbSession, now: Now
) -> Response:
    account = _owner(request, session, now)
    notes = {n.id: n for n in billing.credit_notes(session, account)}
    if note_id not in notes:
        return page(
            request,
            session,
            "document.html",
            account=account,
            doc=None,
            kind="Credit note",
            error="No such credit note.",
            status_code=404,
        )
    return page(
        request, session, "document.html", account=account, doc=notes[note_id], kind="Credit note"
    )


@router.get("/app/activity", response_class=HTMLResponse)
def activity_page(
    request: Request,
    context: Context,
    session: DbSession,
    now: Now,
    camera: uuid.UUID | None = None,
) -> Response:
    """Clips per camera by day, newest first; no-longer-available ones without video."""
    account = _owner(request, session, now)
    owned = cameras.list_owned(session, account)
    chosen = next((c for c in owned if c.id == camera), owned[0] if owned else None)
    days: dict[date, list[dict[str, object]]] = defaultdict(list)
    if chosen is not None:
        secret = clips.url_secret(session)
        listing = clips.list_clips(
            session, chosen, now, start=None, end=None, cursor=None, limit=100
        )
        for clip in listing.clips:
            playable = available(clip.expires_at, clip.erased_at, now)
            url = (
                "/v1/clip-media/" + sign(clip.storage_key, now + PLAYBACK_URL_TTL, secret)
                if playable
                else None
            )
            days[clip.started_at.date()].append({"clip": clip, "available": playable, "url": url})
    return page(
        request,
        session,
        "activity.html",
        account=account,
        cameras=owned,
        chosen=chosen,
        days=sorted(days.items(), reverse=True),
        url_ttl=PLAYBACK_URL_TTL // timedelta(seconds=1),
    )
