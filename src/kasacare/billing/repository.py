"""Every billing query."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kasacare.billing.locks import lock_documents
from kasacare.billing.models import (
    BalanceEntry,
    BillingAddress,
    CardPayment,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    NumberSequence,
    OutboxStatus,
    RefundOutbox,
)


class BillingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def address(self, account_id: uuid.UUID) -> BillingAddress | None:
        return self.session.get(BillingAddress, account_id)

    def addresses(self, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, BillingAddress]:
        rows = self.session.scalars(
            select(BillingAddress).where(BillingAddress.account_id.in_(list(account_ids)))
        )
        return {row.account_id: row for row in rows}

    def balance(self, account_id: uuid.UUID, *, refundable: bool | None = None) -> int:
        """The credit balance; `refundable=False`: its goodwill part, `True`: the rest."""
        query = select(func.coalesce(func.sum(BalanceEntry.amount), 0)).where(
            BalanceEntry.account_id == account_id
        )
        if refundable is not None:
            query = query.where(BalanceEntry.refundable.is_(refundable))
        return int(self.session.scalar(query) or 0)

    def goodwill_paid_in_period(
        self, subscription_id: uuid.UUID, period_end: datetime
    ) -> list[tuple[datetime, int]]:
        """For each paid invoice of a subscription's period that ends at `period_end` (its
        renewal, its changes) on which goodwill credit was spent: (the start of what the
        invoice covers, the goodwill spent on it)."""
        covered = (
            select(InvoiceLine.invoice_id, func.min(InvoiceLine.period_start).label("start"))
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .where(
                Invoice.subscription_id == subscription_id,
                Invoice.status == InvoiceStatus.PAID,
                InvoiceLine.period_end == period_end,
            )
            .group_by(InvoiceLine.invoice_id)
            .subquery()
        )
        rows = self.session.execute(
            select(covered.c.start, func.sum(-BalanceEntry.amount))
            .join(BalanceEntry, BalanceEntry.invoice_id == covered.c.invoice_id)
            .where(BalanceEntry.refundable.is_(False), BalanceEntry.amount < 0)
            .group_by(covered.c.invoice_id, covered.c.start)
        ).all()
        return [(start, int(spent)) for start, spent in rows]

    def goodwill_since(self, account_id: uuid.UUID, since: datetime) -> int:
        """Goodwill credit added to the account since `since` (for the policy's cap)."""
        query = select(func.coalesce(func.sum(BalanceEntry.amount), 0)).where(
            BalanceEntry.account_id == account_id,
            BalanceEntry.refundable.is_(False),
            BalanceEntry.amount > 0,
            BalanceEntry.created_at >= since,
        )
        return int(self.session.scalar(query) or 0)

    def take_number(self, name: str) -> int:
        """The next value of a gapless sequence; its row stays locked until commit."""
        return self.take_numbers(name, 1).start

    def take_numbers(self, name: str, count: int) -> range:
        """The next `count` values of a gapless sequence (a batch of documents), its row
        locked until commit. The first numbers a transaction takes lock every sequence's
        row, in name order: two transactions that number a credit note and an invoice in
        opposite orders would otherwise deadlock."""
        lock_documents(self.session)
        rows = {
            row.name: row
            for row in self.session.scalars(
                select(NumberSequence).order_by(NumberSequence.name).with_for_update()
            )
        }
        row = rows.get(name)
        if row is None:
            row = NumberSequence(name=name, last_value=0)
            self.session.add(row)
        first = row.last_value + 1
        row.last_value += count
        self.session.flush()
        return range(first, first + count)

    def refundable_payments(self, account_id: uuid.UUID) -> list[CardPayment]:
        lock_documents(self.session)
        return list(
            self.session.scalars(
                select(CardPayment)
                .where(
                    CardPayment.account_id == account_id, CardPayment.refunded < CardPayment.amount
                )
                .order_by(CardPayment.created_at.desc(), CardPayment.id.desc())
                .with_for_update()
            )
        )

    def invoices(self, account_id: uuid.UUID) -> list[Invoice]:
        return list(
            self.session.scalars(
                select(Invoice)
                .options(selectinload(Invoice.lines))
                .where(Invoice.account_id == account_id)
                .order_by(Invoice.created_at.desc(), Invoice.number.desc())
            )
        )

    def invoice(self, account_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice | None:
        return self.session.scalar(
            select(Invoice)
            .options(selectinload(Invoice.lines))
            .where(Invoice.id == invoice_id, Invoice.account_id == account_id)
        )

    def open_invoices(self, subscription_id: uuid.UUID) -> list[Invoice]:
        return list(
            self.session.scalars(
                select(Invoice).where(
                    Invoice.subscription_id == subscription_id,
                    Invoice.status == InvoiceStatus.OPEN,
                )
            )
        )

    def credit_note(self, account_id: uuid.UUID, note_id: uuid.UUID) -> CreditNote | None:
        return self.session.scalar(
            select(CreditNote)
            .options(selectinload(CreditNote.lines))
            .where(CreditNote.id == note_id, CreditNote.account_id == account_id)
        )

    def period_end(self, invoice_id: uuid.UUID) -> datetime | None:
        """The end of the latest period an invoice's lines cover."""
        return self.session.scalar(
            select(func.max(InvoiceLine.period_end)).where(InvoiceLine.invoice_id == invoice_id)
        )

    def latest_paid_invoice(self, subscription_id: uuid.UUID) -> Invoice | None:
        """The newest paid invoice of a subscription (new plan or legacy): what a credit
        note of its period corrects."""
        return self.session.scalar(
            select(Invoice)
            .where(Invoice.subscription_id == subscription_id, Invoice.status == InvoiceStatus.PAID)
            .order_by(Invoice.created_at.desc(), Invoice.number.desc())
            .limit(1)
        )

    def refunded_cards(self, note_id: uuid.UUID) -> list[tuple[Invoice, int]]:
        """The invoices whose card payments a refund note goes back to, and how much."""
        return [
            (invoice, int(amount))
            for invoice, amount in self.session.execute(
                select(Invoice, RefundOutbox.amount)
                .join(CardPayment, CardPayment.invoice_id == Invoice.id)
                .join(RefundOutbox, RefundOutbox.card_payment_id == CardPayment.id)
                .where(RefundOutbox.credit_note_id == note_id)
                .order_by(Invoice.number)
            ).all()
        ]

    def credit_notes(self, account_id: uuid.UUID) -> list[CreditNote]:
        return list(
            self.session.scalars(
                select(CreditNote)
                .options(selectinload(CreditNote.lines))
                .where(CreditNote.account_id == account_id)
                .order_by(CreditNote.created_at.desc(), CreditNote.number.desc())
            )
        )

    def pending_refunds(
        self, now: datetime, *, exclude: Collection[uuid.UUID] = (), limit: int = 100
    ) -> list[RefundOutbox]:
        """Refunds to carry out at `now`: pending, not waiting for a back-off, not held by
        another process (SKIP LOCKED), not in `exclude` (failed in this run), oldest first."""
        lock_documents(self.session)
        query = select(RefundOutbox).where(
            RefundOutbox.status == OutboxStatus.PENDING,
            RefundOutbox.next_attempt_at.is_(None) | (RefundOutbox.next_attempt_at <= now),
        )
        if exclude:
            query = query.where(RefundOutbox.id.notin_(list(exclude)))
        return list(
            self.session.scalars(
                query.order_by(RefundOutbox.created_at, RefundOutbox.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
