"""Every billing query."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kasacare.billing.models import (
    BalanceEntry,
    CardPayment,
    CreditNote,
    Invoice,
    InvoiceStatus,
    NumberSequence,
    OutboxStatus,
    RefundOutbox,
)


class BillingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def balance(self, account_id: uuid.UUID) -> int:
        query = select(func.coalesce(func.sum(BalanceEntry.amount), 0)).where(
            BalanceEntry.account_id == account_id
        )
        return int(self.session.scalar(query) or 0)

    def take_number(self, name: str) -> int:
        """The next value of a gapless sequence; its row stays locked until commit."""
        row = self.session.scalar(
            select(NumberSequence).where(NumberSequence.name == name).with_for_update()
        )
        if row is None:
            row = NumberSequence(name=name, last_value=0)
            self.session.add(row)
        row.last_value += 1
        self.session.flush()
        return row.last_value

    def refundable_payments(self, account_id: uuid.UUID) -> list[CardPayment]:
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

    def credit_notes(self, account_id: uuid.UUID) -> list[CreditNote]:
        return list(
            self.session.scalars(
                select(CreditNote)
                .options(selectinload(CreditNote.lines))
                .where(CreditNote.account_id == account_id)
                .order_by(CreditNote.created_at.desc(), CreditNote.number.desc())
            )
        )

    def count_invoices(self, account_id: uuid.UUID) -> int:
        query = select(func.count()).select_from(Invoice).where(Invoice.account_id == account_id)
        return int(self.session.scalar(query) or 0)

    def pending_refunds(self, limit: int = 100) -> list[RefundOutbox]:
        return list(
            self.session.scalars(
                select(RefundOutbox)
                .where(RefundOutbox.status == OutboxStatus.PENDING)
                .order_by(RefundOutbox.created_at, RefundOutbox.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
