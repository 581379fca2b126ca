"""Invoices and credit notes as legal documents (issue 14 item 2): the seller from the
configuration, the customer as billed when the document was issued, every line with its
net, tax and gross, the totals, the tax treatment and its legal mention, how it was paid
(the part paid from credit shown apart from the card charge) and, for a credit note, the
invoice it corrects. One `DocumentView` feeds the PDF (`billing.pdf`) and the web page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing.models import (
    CreditNote,
    CreditNoteKind,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from kasacare.billing.repository import BillingRepository
from kasacare.billing.tax import TaxTreatment
from kasacare.config import Settings
from kasacare.kit.money import Money, format_money

_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "maestro": "Maestro", "amex": "Amex"}


@dataclass(frozen=True, slots=True)
class Seller:
    name: str
    address: tuple[str, ...]
    tax_id: str | None

    @classmethod
    def of(cls, settings: Settings) -> Seller:
        lines = tuple(part.strip() for part in settings.seller_address.split(";"))
        return cls(
            settings.seller_name, tuple(p for p in lines if p), settings.seller_tax_id or None
        )


@dataclass(frozen=True, slots=True)
class DocumentLine:
    description: str
    period: str | None
    net: Money
    rate: str | None  # percent; None: outside the scope of tax
    tax: Money
    gross: Money


@dataclass(frozen=True, slots=True)
class DocumentView:
    title: str  # "Invoice" or "Credit note"
    number: str
    issued: datetime
    state: str  # paid, open, void; refund, credit
    seller: Seller
    customer: tuple[str, ...]  # name and address lines, or the account's email
    customer_vat: str | None
    lines: tuple[DocumentLine, ...]
    net_total: Money
    tax_total: Money
    total: Money
    tax: TaxTreatment | None
    payment: str | None  # "Paid from credit £2.96, charged to Visa •4242 £0.47"
    corrects: str | None  # a credit note's invoice number


def card_label(brand: str | None, last4: str | None) -> str:
    """`Visa •4242`, or `card` when the card was not recorded."""
    if brand is None or last4 is None:
        return "card"
    return f"{_BRANDS.get(brand, brand.capitalize())} •{last4}"


def payment_words(
    status: InvoiceStatus, credit_used: Money, charged: Money, card: str
) -> str | None:
    """How an invoice was paid, the credit shown apart from the card charge."""
    if status is InvoiceStatus.VOID:
        return "Void: nothing was paid"
    if status is InvoiceStatus.OPEN:
        return "Not paid yet: the card payment failed"
    parts = []
    if credit_used.amount:
        parts.append(f"paid from credit {format_money(credit_used)}")
    if charged.amount:
        parts.append(f"charged to {card} {format_money(charged)}")
    if not parts:
        return "Nothing to pay"
    text = ", ".join(parts)
    return text[0].upper() + text[1:]


def customer_lines(snapshot: dict[str, Any] | None, email: str) -> tuple[str, ...]:
    """The customer block: name and address as billed, or (no address given) the account's
    email and country."""
    data = snapshot or {}
    if not data.get("name"):
        return tuple(part for part in (email, data.get("country")) if part)
    place = " ".join(
        part for part in (data.get("postal_code"), data.get("city"), data.get("region")) if part
    )
    parts = (data["name"], data.get("line1"), data.get("line2"), place, data.get("country"))
    return tuple(str(part) for part in parts if part)


def _lines(rows: Sequence[InvoiceLine | CreditNoteLine], currency: str) -> tuple[DocumentLine, ...]:
    def period(row: InvoiceLine | CreditNoteLine) -> str | None:
        if row.period_start is None or row.period_end is None:
            return None
        return f"{row.period_start:%-d %b %Y} \u2013 {row.period_end:%-d %b %Y}"

    return tuple(
        DocumentLine(
            row.description,
            period(row),
            Money(row.net, currency),
            row.tax_rate,
            Money(row.tax, currency),
            Money(row.amount, currency),
        )
        for row in rows
    )


def _sum(lines: Sequence[DocumentLine], attribute: str, currency: str) -> Money:
    total = Money.zero(currency)
    for line in lines:
        total += getattr(line, attribute)
    return total


def invoice_view(settings: Settings, account: Account, invoice: Invoice) -> DocumentView:
    currency = invoice.currency
    payment = payment_words(
        invoice.status,
        Money(invoice.credit_used, currency),
        Money(invoice.charged, currency),
        card_label(invoice.card_brand, invoice.card_last4),
    )
    return _view("Invoice", invoice, invoice.status.value, settings, account, payment, None)


def credit_note_view(
    session: Session, settings: Settings, account: Account, note: CreditNote
) -> DocumentView:
    currency = note.currency
    repository = BillingRepository(session)
    corrects = session.get(Invoice, note.invoice_id) if note.invoice_id else None
    if note.kind is CreditNoteKind.REFUND:
        refunds = [
            f"{card_label(invoice.card_brand, invoice.card_last4)} "
            f"{format_money(Money(amount, currency))}"
            for invoice, amount in repository.refunded_cards(note.id)
        ]
        payment = f"Refunded to {', '.join(refunds)}" if refunds else "Refunded to the card on file"
    else:
        payment = f"Added to the credit balance: {format_money(Money(note.total, currency))}"
    number = corrects.number if corrects is not None else None
    return _view("Credit note", note, note.kind.value, settings, account, payment, number)


def _view(
    title: str,
    document: Invoice | CreditNote,
    state: str,
    settings: Settings,
    account: Account,
    payment: str | None,
    corrects: str | None,
) -> DocumentView:
    """What an invoice and a credit note show alike: seller, customer as billed, lines and
    their totals, the tax treatment."""
    currency = document.currency
    lines = _lines(document.lines, currency)
    return DocumentView(
        title=title,
        number=document.number,
        issued=document.created_at,
        state=state,
        seller=Seller.of(settings),
        customer=customer_lines(document.customer, account.email),
        customer_vat=(document.customer or {}).get("vat_number"),
        lines=lines,
        net_total=_sum(lines, "net", currency),
        tax_total=_sum(lines, "tax", currency),
        total=Money(document.total, currency),
        tax=TaxTreatment.from_json(document.tax) if document.tax else None,
        payment=payment,
        corrects=corrects,
    )
