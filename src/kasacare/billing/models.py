"""Billing tables. Append-only: documents are never edited after issue (only an open
invoice's status moves to paid or void), the balance is a ledger, refunds are outbox rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kasacare.kit.db import Base, new_id, str_enum


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class CreditNoteKind(StrEnum):
    REFUND = "refund"
    CREDIT = "credit"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"


class NumberSequence(Base):
    """Gapless document numbers: the row is locked while a number is taken (M8)."""

    __tablename__ = "number_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(BigInteger)
    credit_used: Mapped[int] = mapped_column(BigInteger)
    charged: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    #: The tax treatment of its taxed lines (`billing.tax.TaxTreatment.as_json`), if any.
    tax: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The customer as billed when issued (`billing.documents.customer_snapshot`): kept
    #: with the document (legal retention) when the account's address changes or goes.
    customer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The card the `charged` part went to, as shown on the document ("Visa •4242").
    card_brand: Mapped[str | None] = mapped_column(String(16))
    card_last4: Mapped[str | None] = mapped_column(String(4))

    lines: Mapped[list[InvoiceLine]] = relationship(
        lazy="raise", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    #: `amount` is the gross charged or credited; net + tax = amount (issue 14 item 1).
    net: Mapped[int] = mapped_column(BigInteger, server_default="0")
    tax: Mapped[int] = mapped_column(BigInteger, server_default="0")
    #: The tax rate in percent ("20", "7.25"); None: outside the scope of tax.
    tax_rate: Mapped[str | None] = mapped_column(String(10))


class CreditNote(Base):
    __tablename__ = "credit_notes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    kind: Mapped[CreditNoteKind] = mapped_column(str_enum(CreditNoteKind))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    #: The tax treatment of its taxed lines (`billing.tax.TaxTreatment.as_json`), if any.
    tax: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The customer as billed when issued (see Invoice.customer).
    customer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The invoice this note corrects (None: goodwill credit, or money paid before us).
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"))

    lines: Mapped[list[CreditNoteLine]] = relationship(
        lazy="raise", order_by="CreditNoteLine.position", cascade="all, delete-orphan"
    )


class CreditNoteLine(Base):
    __tablename__ = "credit_note_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    credit_note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    #: `amount` is the gross charged or credited; net + tax = amount (issue 14 item 1).
    net: Mapped[int] = mapped_column(BigInteger, server_default="0")
    tax: Mapped[int] = mapped_column(BigInteger, server_default="0")
    #: The tax rate in percent ("20", "7.25"); None: outside the scope of tax.
    tax_rate: Mapped[str | None] = mapped_column(String(10))


class BillingAddress(Base):
    """An account's billing address and optional VAT number: they decide its tax (issue 14
    item 1). Personal data: erased with the account."""

    __tablename__ = "billing_addresses"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    #: State or province code (US, CA: it picks the rate), or free text elsewhere.
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    vat_number: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime]


class BalanceEntry(Base):
    """The credit balance as a ledger (M9): + credit added, - credit used or refunded."""

    __tablename__ = "balance_entries"
    __table_args__ = (Index("ix_balance_entries_account_at", "account_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200))
    invoice_id: Mapped[uuid.UUID | None]
    credit_note_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    #: False for goodwill credit: spent on invoices only (first), never paid out to a card.
    refundable: Mapped[bool] = mapped_column(default=True, server_default=true())


class CardPayment(Base):
    """A gateway charge that paid an invoice, and how much of it was refunded (M2, M6)."""

    __tablename__ = "card_payments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    gateway_charge_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class RefundOutbox(Base):
    """A refund decided in a committed transaction and carried out after it (M4): of one of
    our card payments (`gateway_charge_id`), or, for money paid before our gateway (legacy),
    a credit to the card on file (`card_token`)."""

    __tablename__ = "refund_outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    credit_note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    card_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("card_payments.id"))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64))
    card_token: Mapped[str | None] = mapped_column(String(80))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[OutboxStatus] = mapped_column(str_enum(OutboxStatus), index=True)
    gateway_refund_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    #: Isolated jobs: a refund the gateway failed waits (back-off) and never blocks the rest.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


class AttemptPurpose(StrEnum):
    #: An owner's purchase (subscribe, add a camera, change plan or cycle): the invoice is
    #: issued after the gateway's answer, in the transaction that records the attempt's
    #: success.
    PURCHASE = "purchase"
    #: A renewal or dunning retry of one period of a subscription (new plan or legacy).
    RENEWAL = "renewal"


class AttemptStatus(StrEnum):
    PENDING = "pending"  # committed before the gateway call; outcome not recorded yet
    SUCCEEDED = "succeeded"  # charged, and the invoice it paid committed with this status
    DECLINED = "declined"  # the gateway refused: no money moved
    ABANDONED = "abandoned"  # never reached the gateway (found no charge under its key)
    REVERSING = "reversing"  # charged but never applied: its refund is due
    REVERSED = "reversed"  # that refund is done


class PaymentAttempt(Base):
    """One card charge, committed before the gateway is called (the shape of Stripe's
    PaymentIntent): what it pays, how much, and the gateway key derived from it. Every
    gateway charge maps to one attempt; the reconciler settles attempts whose outcome was
    never recorded (a crash between the gateway and our commit)."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        Index("ix_payment_attempts_status_created", "status", "created_at"),
        Index("ix_payment_attempts_renewal", "subscription_id", "period_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    purpose: Mapped[AttemptPurpose] = mapped_column(str_enum(AttemptPurpose))
    #: What a renewal pays: the subscription (new plan or legacy) and the period it starts.
    subscription_id: Mapped[uuid.UUID | None]
    period_start: Mapped[datetime | None]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[AttemptStatus] = mapped_column(str_enum(AttemptStatus))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64))
    gateway_refund_id: Mapped[str | None] = mapped_column(String(64))
    decline_code: Mapped[str | None] = mapped_column(String(40))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"))
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
