"""Billing routes: invoices, credit notes, the credit balance and the billing address of
the caller."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from kasacare.accounts.dependencies import Owner
from kasacare.billing import addresses, documents, service
from kasacare.billing.documents import DocumentView
from kasacare.billing.pdf import render_pdf
from kasacare.billing.schemas import (
    BalanceRead,
    BillingAddressRead,
    BillingAddressWrite,
    CreditNoteList,
    CreditNoteRead,
    InvoiceList,
    InvoiceRead,
)
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.kit.errors import NotFound
from kasacare.kit.http import problem_responses
from kasacare.kit.schemas import MoneyRead

router = APIRouter(tags=["billing"])
READS = problem_responses(401, 403)


@router.get("/v1/invoices", response_model=InvoiceList, responses=READS)
def list_invoices(owner: Owner, session: DbSession) -> InvoiceList:
    return InvoiceList(items=[InvoiceRead.of(i) for i in service.invoices(session, owner)])


PDF = {
    200: {
        "description": "The document as a PDF",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    },
    **problem_responses(401, 403, 404),
}


def _pdf(view: DocumentView, context: AppContext) -> Response:
    return Response(
        render_pdf(view, context.settings.pdf_font_path),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{view.number}.pdf"'},
    )


# The .pdf routes go first: `/v1/invoices/{invoice_id}` would take `<id>.pdf` too.
@router.get("/v1/invoices/{invoice_id}.pdf", response_class=Response, responses=PDF)
def get_invoice_pdf(
    invoice_id: uuid.UUID, owner: Owner, context: Context, session: DbSession
) -> Response:
    """Issue 14 item 2: the invoice as a legal document (seller, customer, tax, payment)."""
    invoice = service.invoice(session, owner, invoice_id)
    return _pdf(documents.invoice_view(context.settings, owner, invoice), context)


@router.get("/v1/credit-notes/{note_id}.pdf", response_class=Response, responses=PDF)
def get_credit_note_pdf(
    note_id: uuid.UUID, owner: Owner, context: Context, session: DbSession
) -> Response:
    note = service.credit_note(session, owner, note_id)
    return _pdf(documents.credit_note_view(session, context.settings, owner, note), context)


@router.get(
    "/v1/credit-notes/{note_id}",
    response_model=CreditNoteRead,
    responses=problem_responses(401, 403, 404),
)
def get_credit_note(note_id: uuid.UUID, owner: Owner, session: DbSession) -> CreditNoteRead:
    return CreditNoteRead.of(service.credit_note(session, owner, note_id))


@router.get(
    "/v1/invoices/{invoice_id}",
    response_model=InvoiceRead,
    responses=problem_responses(401, 403, 404),
)
def get_invoice(invoice_id: uuid.UUID, owner: Owner, session: DbSession) -> InvoiceRead:
    return InvoiceRead.of(service.invoice(session, owner, invoice_id))


@router.get("/v1/credit-notes", response_model=CreditNoteList, responses=READS)
def list_credit_notes(owner: Owner, session: DbSession) -> CreditNoteList:
    return CreditNoteList(
        items=[CreditNoteRead.of(n) for n in service.credit_notes(session, owner)]
    )


@router.get("/v1/balance", response_model=BalanceRead, responses=READS)
def get_balance(owner: Owner, session: DbSession) -> BalanceRead:
    return BalanceRead(credit=MoneyRead.of(service.balance(session, owner)))


@router.get(
    "/v1/me/billing-address",
    response_model=BillingAddressRead,
    responses=problem_responses(401, 403, 404),
)
def get_billing_address(owner: Owner, context: Context, session: DbSession) -> BillingAddressRead:
    row = addresses.address(session, owner)
    if row is None:
        raise NotFound("No billing address yet")
    return BillingAddressRead.of(row, addresses.treatment(session, context.catalog, owner))


@router.put(
    "/v1/me/billing-address",
    response_model=BillingAddressRead,
    responses=problem_responses(401, 403, 422),
)
def put_billing_address(
    body: BillingAddressWrite, owner: Owner, context: Context, session: DbSession, now: Now
) -> BillingAddressRead:
    """Set the billing address and VAT number; the next documents are taxed by them."""
    row = addresses.save_address(
        session, context.catalog, now, owner, addresses.AddressInput(**body.model_dump())
    )
    treatment = addresses.treatment(session, context.catalog, owner)
    session.commit()
    return BillingAddressRead.of(row, treatment)
