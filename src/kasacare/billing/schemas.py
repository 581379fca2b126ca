"""Billing response bodies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from kasacare.billing.models import (
    BillingAddress,
    CreditNote,
    CreditNoteKind,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from kasacare.billing.tax import TaxTreatment
from kasacare.kit.money import Money
from kasacare.kit.schemas import MoneyRead


class TaxRead(BaseModel):
    """A document's tax treatment (issue 14 item 1)."""

    name: str = Field(examples=["VAT", "GST", "sales tax"])
    rate: str = Field(description="Percent, exact", examples=["20", "7.25"])
    inclusive: bool = Field(description="Whether catalog prices include it")
    jurisdiction: str = Field(examples=["GB", "DE", "US-CA"])
    reverse_charge: bool
    mention: str | None = Field(description="The legal mention the document must carry")

    @classmethod
    def of(cls, treatment: TaxTreatment | None) -> TaxRead | None:
        if treatment is None:
            return None
        return cls(
            name=treatment.name,
            rate=treatment.rate,
            inclusive=treatment.inclusive,
            jurisdiction=treatment.jurisdiction,
            reverse_charge=treatment.reverse_charge,
            mention=treatment.mention,
        )

    @classmethod
    def stored(cls, data: dict[str, Any] | None) -> TaxRead | None:
        return cls.of(TaxTreatment.from_json(data)) if data else None


class LineRead(BaseModel):
    description: str
    amount: MoneyRead = Field(description="The gross charged or credited: net + tax")
    net: MoneyRead
    tax: MoneyRead
    tax_rate: str | None = Field(description="Percent; null: outside the scope of tax")
    period_start: datetime | None
    period_end: datetime | None


def _lines(rows: Sequence[InvoiceLine | CreditNoteLine], currency: str) -> list[LineRead]:
    return [
        LineRead(
            description=row.description,
            amount=MoneyRead.of(Money(row.amount, currency)),
            net=MoneyRead.of(Money(row.net, currency)),
            tax=MoneyRead.of(Money(row.tax, currency)),
            tax_rate=row.tax_rate,
            period_start=row.period_start,
            period_end=row.period_end,
        )
        for row in rows
    ]


def _sums(rows: Sequence[InvoiceLine | CreditNoteLine], currency: str) -> dict[str, MoneyRead]:
    """A document's net and tax totals: the sums of its lines' (the total is the gross)."""
    return {
        "net_total": MoneyRead.of(Money(sum(row.net for row in rows), currency)),
        "tax_total": MoneyRead.of(Money(sum(row.tax for row in rows), currency)),
    }


class CustomerRead(BaseModel):
    """The customer as billed when the document was issued (issue 14 item 2)."""

    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    vat_number: str | None = None

    @classmethod
    def stored(cls, data: dict[str, Any] | None) -> CustomerRead | None:
        return cls.model_validate(data) if data else None


class CardRead(BaseModel):
    brand: str
    last4: str


class InvoiceRead(BaseModel):
    id: uuid.UUID
    number: str
    status: InvoiceStatus
    subscription_id: uuid.UUID | None
    total: MoneyRead
    net_total: MoneyRead
    tax_total: MoneyRead
    tax: TaxRead | None
    credit_used: MoneyRead = Field(description="Paid from the credit balance")
    charged: MoneyRead = Field(description="Charged to the card")
    card: CardRead | None = Field(description="The card charged")
    customer: CustomerRead | None
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
            **_sums(invoice.lines, invoice.currency),
            tax=TaxRead.stored(invoice.tax),
            credit_used=money(invoice.credit_used),
            charged=money(invoice.charged),
            card=(
                CardRead(brand=invoice.card_brand, last4=invoice.card_last4)
                if invoice.card_brand and invoice.card_last4
                else None
            ),
            customer=CustomerRead.stored(invoice.customer),
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
    net_total: MoneyRead
    tax_total: MoneyRead
    tax: TaxRead | None
    invoice_id: uuid.UUID | None = Field(description="The invoice this note corrects")
    customer: CustomerRead | None
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
            **_sums(note.lines, note.currency),
            tax=TaxRead.stored(note.tax),
            invoice_id=note.invoice_id,
            customer=CustomerRead.stored(note.customer),
            created_at=note.created_at,
            lines=_lines(note.lines, note.currency),
        )


class InvoiceList(BaseModel):
    items: list[InvoiceRead]


class CreditNoteList(BaseModel):
    items: list[CreditNoteRead]


class BalanceRead(BaseModel):
    credit: MoneyRead


#: One line of printable text: no control characters (PostgreSQL refuses NUL in text).
_LINE = r"^[^\x00-\x1f\x7f]*$"


def _text(min_length: int, max_length: int) -> Any:
    return Field(min_length=min_length, max_length=max_length, pattern=_LINE)


class BillingAddressWrite(BaseModel):
    """The billing address (issue 14 item 1): its country and region decide the tax."""

    name: Annotated[str, _text(1, 200)]
    line1: Annotated[str, _text(1, 200)]
    line2: Annotated[str, _text(0, 200)] | None = None
    city: Annotated[str, _text(1, 100)]
    region: Annotated[str, _text(0, 100)] | None = Field(
        default=None, description="State or province code: required in the US and Canada"
    )
    postal_code: Annotated[str, _text(1, 20)]
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
    vat_number: Annotated[str, _text(0, 20)] | None = Field(
        default=None, description="EU or UK VAT number (format checked; no VIES lookup)"
    )


class BillingAddressRead(BaseModel):
    name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str
    vat_number: str | None
    tax: TaxRead = Field(description="The tax the next documents are issued with")

    @classmethod
    def of(cls, row: BillingAddress, treatment: TaxTreatment) -> BillingAddressRead:
        tax = TaxRead.of(treatment)
        assert tax is not None
        return cls(
            name=row.name,
            line1=row.line1,
            line2=row.line2,
            city=row.city,
            region=row.region,
            postal_code=row.postal_code,
            country=row.country,
            vat_number=row.vat_number,
            tax=tax,
        )
