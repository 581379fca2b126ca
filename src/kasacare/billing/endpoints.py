"""Billing routes: invoices, credit notes and the credit balance of the caller."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from kasacare.accounts.dependencies import Owner
from kasacare.billing import service
from kasacare.billing.schemas import (
    BalanceRead,
    CreditNoteList,
    CreditNoteRead,
    InvoiceList,
    InvoiceRead,
)
from kasacare.context import DbSession
from kasacare.kit.http import problem_responses
from kasacare.kit.schemas import MoneyRead

router = APIRouter(tags=["billing"])
READS = problem_responses(401, 403)


@router.get("/v1/invoices", response_model=InvoiceList, responses=READS)
def list_invoices(owner: Owner, session: DbSession) -> InvoiceList:
    return InvoiceList(items=[InvoiceRead.of(i) for i in service.invoices(session, owner)])


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
