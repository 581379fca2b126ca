"""Billing pages: card on file (through the tokenizer), billing address and VAT number
(they decide the tax), invoices, credit notes, balance."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing import addresses, documents
from kasacare.billing import service as billing
from kasacare.billing.pdf import render_pdf
from kasacare.billing.tax import TaxTreatment
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.jobs import retry_on_card_change
from kasacare.kit.errors import KasaCareError, NotFound
from kasacare.payments import service as payments
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.service import Subscriptions
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import friendly, notice_url
from kasacare.web.past_due import past_due
from kasacare.web.render import country_choices, page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)


def _billing_page(
    request: Request,
    context: Context,
    session: Session,
    now: datetime,
    account: Account,
    error: str | None = None,
    status_code: int = 200,
    address_form: dict[str, str] | None = None,
) -> HTMLResponse:
    use_cases = Subscriptions.reading(session, context.catalog, now, account)
    live = use_cases.repo.live(account.id)
    row = addresses.address(session, account)
    saved = {name: getattr(row, name) or "" for name in _ADDRESS_FIELDS} if row else {}
    return page(
        request,
        session,
        "billing.html",
        account=account,
        address=address_form if address_form is not None else saved,
        countries=country_choices(
            (code for code, cur in context.catalog.countries.items() if cur == account.currency),
            account.language,
        ),
        tax=tax_label(addresses.treatment(session, context.catalog, account)),
        card=payments.get_payment_method(session, account),
        past_due=past_due(session, live),
        balance=billing.balance(session, account),
        next_invoice=use_cases.next_invoice(live) if live else None,
        invoices=billing.invoices(session, account),
        credit_notes=billing.credit_notes(session, account),
        error=error,
        status_code=status_code,
    )


@router.get("/app/billing", response_class=HTMLResponse)
def billing_page(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    return _billing_page(request, context, session, now, signed_in_owner(request, session, now))


@router.post("/app/billing/card")
async def replace_card(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """The form carries only the tokenizer's token: the card number never reaches this page."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    was_past_due = past_due(session, SubscriptionRepository(session).live(account.id)) is not None
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        payments.set_payment_method(
            session, context.gateway, context.catalog, now, account, str(form.get("token", ""))
        )
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return _billing_page(request, context, session, now, account, friendly(error), error.status)
    retry_on_card_change(context, now, account.id)
    notice = "card_saved"
    if was_past_due:  # say what the new card did with the open invoice (issue 14 item 4)
        session.expire_all()
        still = past_due(session, SubscriptionRepository(session).live(account.id))
        notice = "card_saved_still_past_due" if still else "card_paid_invoice"
    return RedirectResponse(notice_url("/app/billing", notice), status_code=303)


_ADDRESS_FIELDS = (
    "name",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "vat_number",
)


@router.post("/app/billing/address")
async def save_address(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """Issue 14 item 1: the billing address and VAT number; a refusal keeps what was typed."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    given = {name: str(form.get(name, ""))[:200] for name in _ADDRESS_FIELDS}
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        addresses.save_address(
            session,
            context.catalog,
            now,
            account,
            addresses.AddressInput(
                name=given["name"],
                line1=given["line1"],
                line2=given["line2"] or None,
                city=given["city"],
                region=given["region"] or None,
                postal_code=given["postal_code"],
                country=given["country"],
                vat_number=given["vat_number"] or None,
            ),
        )
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return _billing_page(
            request, context, session, now, account, friendly(error), error.status, given
        )
    return RedirectResponse(notice_url("/app/billing", "address_saved"), status_code=303)


def tax_label(treatment: TaxTreatment) -> str:
    """How the billing page says what tax the next documents carry."""
    if treatment.reverse_charge:
        return "No VAT is charged: reverse charge (your VAT number)"
    if treatment.inclusive:
        return f"Prices include {treatment.name} {treatment.rate}%"
    if treatment.ratio == 0:
        return f"No {treatment.name} is added (no rate for your billing address)"
    return f"{treatment.name.capitalize()} {treatment.rate}% is added to prices"


# The .pdf pages go first: the document pages' paths would take `<id>.pdf` too.
@router.get("/app/billing/invoices/{invoice_id}.pdf")
def invoice_pdf(
    invoice_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """The invoice's PDF for the signed-in owner (the API's is for bearer tokens)."""
    account = signed_in_owner(request, session, now)
    document = billing.invoice(session, account, invoice_id)
    return _pdf(documents.invoice_view(context.settings, account, document), context)


@router.get("/app/billing/credit-notes/{note_id}.pdf")
def credit_note_pdf(
    note_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    note = billing.credit_note(session, account, note_id)
    return _pdf(documents.credit_note_view(session, context.settings, account, note), context)


def _pdf(view: documents.DocumentView, context: AppContext) -> Response:
    return Response(
        render_pdf(view, context.settings.pdf_font_path),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{view.number}.pdf"'},
    )


@router.get("/app/billing/invoices/{invoice_id}", response_class=HTMLResponse)
def invoice_page(
    invoice_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    document = billing.invoice(session, account, invoice_id)
    view = documents.invoice_view(context.settings, account, document)
    return page(
        request,
        session,
        "document.html",
        account=account,
        view=view,
        kind="Invoice",
        pdf_url=f"/app/billing/invoices/{document.id}.pdf",
    )


@router.get("/app/billing/credit-notes/{note_id}", response_class=HTMLResponse)
def credit_note_page(
    note_id: uuid.UUID, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    try:
        note = billing.credit_note(session, account, note_id)
    except NotFound:
        return page(
            request,
            session,
            "document.html",
            account=account,
            view=None,
            kind="Credit note",
            error="No such credit note.",
            status_code=404,
        )
    view = documents.credit_note_view(session, context.settings, account, note)
    corrects = f"/app/billing/invoices/{note.invoice_id}" if note.invoice_id else None
    return page(
        request,
        session,
        "document.html",
        account=account,
        view=view,
        kind="Credit note",
        pdf_url=f"/app/billing/credit-notes/{note.id}.pdf",
        corrects_url=corrects,
    )
