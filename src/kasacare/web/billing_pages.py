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
from kasacare.billing.tax import TaxTreatment, takes_vat_number
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.jobs import retry_on_card_change
from kasacare.kit.errors import KasaCareError, NotFound
from kasacare.payments import service as payments
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.service import Subscriptions
from kasacare.web import kept_forms
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import notice_url, problem_url
from kasacare.web.past_due import past_due
from kasacare.web.render import country_choices, page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)

PAGE = "/app/billing"
ADDRESS_ACTION = "/app/billing/address"


def _billing_page(
    request: Request,
    context: Context,
    session: Session,
    now: datetime,
    account: Account,
) -> HTMLResponse:
    use_cases = Subscriptions.reading(session, context.catalog, now, account)
    live = use_cases.repo.live(account.id)
    row = addresses.address(session, account)
    address = {name: getattr(row, name) or "" for name in _ADDRESS_FIELDS} if row else {}
    typed = kept_forms.refused(request)
    invalid = None
    if typed is not None and typed.action == ADDRESS_ACTION:  # a refusal: what was typed
        address = {name: typed.fields.get(name, "") for name in _ADDRESS_FIELDS}
        invalid = typed.invalid
    return page(
        request,
        session,
        "billing.html",
        account=account,
        address=address,
        invalid=invalid,
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
    )


@router.get("/app/billing", response_class=HTMLResponse)
def billing_page(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    return _billing_page(request, context, session, now, signed_in_owner(request, session, now))


@router.post("/app/billing/card")
async def replace_card(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """The form carries only the tokenizer's token: the card number never reaches this page,
    and a refusal keeps nothing of the form (post/redirect/get, issue 14 item 4)."""
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
        return RedirectResponse(f"{problem_url(PAGE, error.code)}#card", status_code=303)
    retry_on_card_change(context, now, account.id)
    notice = "card_saved"
    if was_past_due:  # say what the new card did with the open invoice (issue 14 item 4)
        session.expire_all()
        if past_due(session, SubscriptionRepository(session).live(account.id)) is not None:
            # Saved (the page shows it), but declined for the invoice: the banner links to
            # the card form again.
            return RedirectResponse(f"{problem_url(PAGE, 'card_declined')}#card", 303)
        notice = "card_paid_invoice"
    return RedirectResponse(notice_url(PAGE, notice), status_code=303)


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


@router.post(ADDRESS_ACTION)
async def save_address(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    """Issue 14 item 1: the billing address and VAT number. A refusal goes back to the page
    (post/redirect/get, issue 14 item 4) with a banner about the field and what was typed
    kept in a cookie for that page, never in the address."""
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
        field = error.extra.get("field") if error.code == "validation_error" else None
        return kept_forms.refused_redirect(
            request,
            PAGE,
            _address_problem(error.code, field, given["country"]),
            given,
            anchor="address",
            invalid=field if isinstance(field, str) else None,
        )
    return RedirectResponse(notice_url(PAGE, "address_saved"), status_code=303)


def _address_problem(code: str, field: object, country: str) -> str:
    """The banner's code for a refused address: the field it is about, not the bare
    `validation_error` (a redirect carries a code, never the refusal's own text)."""
    if code != "validation_error":
        return code
    if field == "vat_number":
        taken = takes_vat_number(country.strip().upper())
        return "vat_number_format" if taken else "vat_number_not_applicable"
    if field == "country":
        return "billing_country"
    if field == "region":
        return "billing_region"
    return "address_incomplete"


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
