"""Billing response bodies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from kasacare.billing.models import (
    CreditNote,
    CreditNoteKind,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from kasacare.kit.money import Money
from kasacare.kit.schemas import MoneyRead


class LineRead(BaseModel):
    description: str
    amount: MoneyRead
    period_start: datetime | None
    period_end: datetime | None


def _lines(rows: Sequence[InvoiceLine | CreditNoteLine], currency: str) -> list[LineRead]:
    return [
        LineRead(
            description=row.description,
            amount=MoneyRead.of(Money(row.amount, currency)),
            period_start=row.period_start,
            period_end=row.period_end,
        )
        for row in rows
    ]


class InvoiceRead(BaseModel):
    id: uuid.UUID
    number: str
    status: InvoiceStatus
    subscription_id: uuid.UUID | None
    total: MoneyRead
    credit_used: MoneyRead
    charged: MoneyRead
    created_at: datetime
    paid_at: datetime | None
    lines: list[LineRead]

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceRead:
        def money(amount: int) -> MoneyRead:
            return MoneyRead.of(Money(amount, invoice.currency))

        return cls(
            id=invoice.id,
            number=invoice.number,
            status=invoice.status,
            subscription_id=invoice.subscription_id,
            total=money(invoice.total),
            credit_used=money(invoice.credit_used),
            charged=money(invoice.charged),
            created_at=invoice.created_at,
            paid_at=invoice.paid_at,
            lines=_lines(invoice.lines, invoice.currency),
        )


class CreditNoteRead(BaseModel):
    id: uuid.UUID
    number: str
    kind: CreditNoteKind
    subscription_id: uuid.UUID | None
    total: MoneyRead
    created_at: datetime
    lines: list[LineRead]

    @classmethod
    def of(cls, note: CreditNote) -> CreditNoteRead:
        def money(amount: int) -> MoneyRead:
            return MoneyRead.of(Money(amount, note.currency))

        return cls(
            id=note.id,
            number=note.number,
            kind=note.kind,
            subscription_id=note.subscription_id,
            total=money(note.total),
            created_at=note.created_at,
            lines=_lines(note.lines, note.currency),
        )


class InvoiceList(BaseModel):
    items: list[InvoiceRead]


class CreditNoteList(BaseModel):
    items: list[CreditNoteRead]


class BalanceRead(BaseModel):
    credit: MoneyRead
