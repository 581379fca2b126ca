"""Billing use cases: issue invoices and credit notes, pay from the balance then the card,
refund to card payments through the outbox. They never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing.charging import Payer, Pays
from kasacare.billing.documents import card_label
from kasacare.billing.models import (
    BalanceEntry,
    BillingAddress,
    CardPayment,
    CreditNote,
    CreditNoteKind,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    OutboxStatus,
    RefundOutbox,
)
from kasacare.billing.repository import BillingRepository
from kasacare.billing.rules import (
    CancelSettlement,
    LineDraft,
    Refundable,
    Settlement,
    parted,
    settle,
    settle_cancel,
    total,
)
from kasacare.kit.errors import NotFound
from kasacare.kit.money import Money
from kasacare.kit.proration import prorate
from kasacare.notifications.models import Kind
from kasacare.notifications.service import notify
from kasacare.payments.gateway import Charge
from kasacare.payments.service import get_payment_method, require_payment_method

INVOICE_SEQUENCE = "invoice"
CREDIT_NOTE_SEQUENCE = "credit_note"


def currency_of(account: Account) -> str:
    assert account.currency is not None, "only owner accounts have money"
    return account.currency


def balance(session: Session, account: Account) -> Money:
    return Money(BillingRepository(session).balance(account.id), currency_of(account))


def goodwill_balance(session: Session, account: Account) -> Money:
    """The goodwill part of the balance: spent on invoices first, never refunded (M9)."""
    repository = BillingRepository(session)
    return Money(repository.balance(account.id, refundable=False), currency_of(account))


@dataclass(frozen=True, slots=True)
class CancelDocuments:
    """The lines a cancel refund documents: the refund note's (unused time refunded, the
    balance paid out), the goodwill part kept as goodwill credit and the rest kept as
    credit. The unused time's tax is split once over the parts (`rules.parted`)."""

    refund: tuple[LineDraft, ...]
    kept: LineDraft | None
    rest: LineDraft | None


@dataclass(frozen=True, slots=True)
class CancelRefund:
    """The refund of ending paid coverage, as planned (C1, M9): the unused lines (as
    credited, positive), the part of them goodwill paid (it stays goodwill), and the money
    (`settle_cancel`) that `issue_cancel_refund` moves."""

    subscription_id: uuid.UUID | None
    unused_lines: tuple[LineDraft, ...]
    paid_by_goodwill: Money | None
    settlement: CancelSettlement

    def documents(self) -> CancelDocuments:
        outcome = self.settlement
        currency = outcome.credit_rest.currency
        unused = total(self.unused_lines, currency)
        refund: list[LineDraft] = []
        rest: LineDraft | None = None
        if outcome.refund_from_unused == unused:
            refund = list(self.unused_lines)
        else:
            first = self.unused_lines[0]
            net = total([LineDraft("", line.split.net) for line in self.unused_lines], currency)
            rest = replace(first, amount=unused, net=net)
            if outcome.refund_from_unused.amount > 0:
                part, rest = parted(rest, outcome.refund_from_unused, "Unused time refunded")
                refund = [part]
        if outcome.refund_from_balance.amount:
            refund.append(LineDraft("Credit balance refunded", outcome.refund_from_balance))
        kept = None
        goodwill = (self.paid_by_goodwill or Money.zero(currency)).min(outcome.credit_rest)
        kept_text = "Unused time paid with goodwill credit, kept as goodwill credit"
        if rest is not None and goodwill.amount > 0:
            if goodwill == rest.amount:
                kept, rest = replace(rest, description=kept_text), None
            else:
                kept, rest = parted(rest, goodwill, kept_text)
        if rest is not None:
            rest = replace(
                rest, description="Unused time kept as credit (no card payment to refund)"
            )
        return CancelDocuments(tuple(refund), kept, rest)


def plan_cancel(
    session: Session,
    account: Account,
    unused_lines: Sequence[LineDraft],
    *,
    subscription_id: uuid.UUID | None = None,
    refund_balance: bool = True,
    paid_by_goodwill: Money | None = None,
    spent: Money | None = None,
) -> CancelRefund:
    """The money of ending paid coverage (C1, M9): the unused part and the balance (but its
    goodwill part) back to the card payments, newest first; what no payment can take stays
    as credit. `paid_by_goodwill`: the part of the unused time that goodwill credit paid
    (`goodwill_share`): it stays goodwill. `spent`: what an invoice issued first in the same
    change takes of the balance (goodwill is spent first), so the refund is the one
    `issue_cancel_refund` will find then."""
    left = balance(session, account)
    goodwill = goodwill_balance(session, account)
    if spent is not None:
        left, goodwill = left - spent, goodwill - goodwill.min(spent)
    settlement = settle_cancel(
        total(unused_lines, currency_of(account)),
        left,
        refundable(session, account),
        refund_balance=refund_balance,
        goodwill=goodwill,
        kept=paid_by_goodwill,
    )
    return CancelRefund(subscription_id, tuple(unused_lines), paid_by_goodwill, settlement)


def goodwill_share(
    session: Session,
    now: datetime,
    account: Account,
    subscription_id: uuid.UUID,
    period_end: datetime,
    unused: Money,
) -> Money:
    """The part of `unused` (unused time now of the period of `subscription_id` that ends
    at `period_end`) that goodwill credit paid: what goodwill paid of each of the period's
    invoices, prorated over what that invoice covers (M6). It goes back to goodwill, never
    to a card (M9)."""
    currency = currency_of(account)
    share = Money.zero(currency)
    for start, spent in BillingRepository(session).goodwill_paid_in_period(
        subscription_id, period_end
    ):
        share += prorate(Money(spent, currency), start, period_end, now)
    return share.min(unused) if unused.amount > 0 else Money.zero(currency)


def refundable(session: Session, account: Account) -> list[Refundable]:
    """The account's card payments that can still take refunds, newest first (locked)."""
    return [
        Refundable(str(p.id), Money(p.amount - p.refunded, p.currency))
        for p in BillingRepository(session).refundable_payments(account.id)
    ]


def issue_invoice(
    session: Session,
    payer: Payer,
    now: datetime,
    account: Account,
    *,
    subscription_id: uuid.UUID | None,
    lines: Sequence[LineDraft],
    pays: Pays,
) -> Invoice:
    """Issue a paid invoice: the balance pays first, the card the rest (M9), through the
    payer (`kasacare.billing.charging`: the charge is an attempt committed before the
    gateway call). A decline (CardDeclined) leaves nothing."""
    currency = currency_of(account)
    settlement = settle(total(lines, currency), balance(session, account))
    charge = _charge(session, payer, account, settlement.charge_card, pays)
    invoice = issue_open_invoice(
        session, now, account, subscription_id=subscription_id, lines=lines
    )
    _mark_paid(session, now, account, invoice, settlement, charge, payer)
    return invoice


def issue_open_invoice(
    session: Session,
    now: datetime,
    account: Account,
    *,
    subscription_id: uuid.UUID | None,
    lines: Sequence[LineDraft],
) -> Invoice:
    """A numbered invoice with nothing paid yet (open; M5 keeps one when a charge fails)."""
    currency = currency_of(account)
    invoice = Invoice(
        id=uuid.uuid4(),
        customer=customer_snapshot(account, BillingRepository(session).address(account.id)),
        number=f"INV-{BillingRepository(session).take_number(INVOICE_SEQUENCE):06d}",
        account_id=account.id,
        subscription_id=subscription_id,
        status=InvoiceStatus.OPEN,
        currency=currency,
        total=total(lines, currency).amount,
        credit_used=0,
        charged=0,
        created_at=now,
        paid_at=None,
        tax=document_tax(lines),
        lines=[_invoice_line(i, line) for i, line in enumerate(lines)],
    )
    session.add(invoice)
    session.flush()
    return invoice


def pay_open_invoice(
    session: Session,
    payer: Payer,
    now: datetime,
    account: Account,
    invoice: Invoice,
    *,
    pays: Pays,
) -> None:
    """Pay an open invoice now: balance first, then the card. CardDeclined or
    PaymentMethodRequired leave it open."""
    settlement = settle(Money(invoice.total, invoice.currency), balance(session, account))
    charge = _charge(session, payer, account, settlement.charge_card, pays)
    _mark_paid(session, now, account, invoice, settlement, charge, payer)


def _charge(
    session: Session, payer: Payer, account: Account, amount: Money, pays: Pays
) -> Charge | None:
    if amount.amount <= 0:
        return None
    return payer.charge(session, account, amount, pays)


def _mark_paid(
    session: Session,
    now: datetime,
    account: Account,
    invoice: Invoice,
    settlement: Settlement,
    charge: Charge | None,
    payer: Payer,
) -> None:
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = now
    invoice.credit_used = settlement.credit_used.amount
    invoice.charged = settlement.charge_card.amount
    if settlement.credit_used.amount:
        # Goodwill credit is spent first: it can pay invoices only, the rest can go back.
        goodwill = settlement.credit_used.min(goodwill_balance(session, account))
        for part, refundable_part in ((goodwill, False), (settlement.credit_used - goodwill, True)):
            if part.amount > 0:
                _ledger(
                    session,
                    account,
                    -part,
                    now,
                    f"paid {invoice.number}",
                    invoice=invoice,
                    refundable=refundable_part,
                )
    if charge is not None:
        method = get_payment_method(session, account)
        if method is not None and method.gateway_token == charge.token:
            invoice.card_brand, invoice.card_last4 = method.brand.value, method.last4
        session.add(
            CardPayment(
                account_id=account.id,
                invoice_id=invoice.id,
                gateway_charge_id=charge.id,
                amount=charge.amount.amount,
                refunded=0,
                currency=invoice.currency,
                created_at=now,
            )
        )
        payer.paid(session, invoice)
    if invoice.total > 0:
        notify(session, account.id, Kind.PAYMENT_RECEIVED, now, receipt_data(session, invoice))


def receipt_data(session: Session, invoice: Invoice) -> dict[str, object]:
    """A paid invoice's receipt (issue 14 item 3): what was paid, how, for which period."""
    period_end = BillingRepository(session).period_end(invoice.id)
    return {
        "invoice_id": str(invoice.id),
        "number": invoice.number,
        "subscription_id": str(invoice.subscription_id) if invoice.subscription_id else None,
        "amount": {"amount": invoice.total, "currency": invoice.currency},
        "credit_used": invoice.credit_used,
        "charged": invoice.charged,
        "card": card_label(invoice.card_brand, invoice.card_last4) if invoice.charged else None,
        "period_end": _iso(period_end) if period_end else None,
    }


def void_open_invoices(session: Session, subscription_id: uuid.UUID) -> None:
    """Void the open invoices of a subscription; they keep their numbers (M5, M8)."""
    for invoice in BillingRepository(session).open_invoices(subscription_id):
        invoice.status = InvoiceStatus.VOID


def issue_credit(
    session: Session,
    now: datetime,
    account: Account,
    *,
    subscription_id: uuid.UUID | None,
    lines: Sequence[LineDraft],
    goodwill: Money | None = None,
) -> CreditNote:
    """A credit note of kind `credit` (lines as credited, positive total) added to the
    balance; its `goodwill` part (all of a support agent's goodwill credit, or what goodwill
    had paid of credited time) is spent on invoices only and never refunded (M9)."""
    note = _credit_note(session, now, account, CreditNoteKind.CREDIT, subscription_id, lines)
    notify(session, account.id, Kind.CREDIT_ADDED, now, _note_data(note))
    credited = Money(note.total, note.currency)
    from_goodwill = (goodwill or Money.zero(note.currency)).min(credited)
    for part, refundable_part in ((from_goodwill, False), (credited - from_goodwill, True)):
        if part.amount > 0:
            _ledger(
                session,
                account,
                part,
                now,
                f"credit {note.number}",
                note=note,
                refundable=refundable_part,
            )
    return note


def issue_cancel_refund(
    session: Session, now: datetime, account: Account, planned: CancelRefund
) -> None:
    """C1 + M9, as planned (`plan_cancel`): the unused part and the balance go back to the
    card payments, newest first; a refund note documents it and outbox rows carry it out
    after the commit; what no payment can take stays as credit (a `credit` note), and what
    goodwill paid stays as goodwill credit."""
    outcome, subscription_id = planned.settlement, planned.subscription_id
    documents = planned.documents()
    if outcome.refund_total.amount > 0:
        note = _credit_note(
            session, now, account, CreditNoteKind.REFUND, subscription_id, documents.refund
        )
        notify(session, account.id, Kind.REFUND_ISSUED, now, _note_data(note))
        if outcome.refund_from_balance.amount:
            _ledger(
                session,
                account,
                -outcome.refund_from_balance,
                now,
                f"refund {note.number}",
                note=note,
            )
        _queue_refunds(session, now, note, outcome.allocations)
    if documents.kept is not None and documents.kept.amount.amount > 0:
        kept = documents.kept.amount
        issue_credit(
            session,
            now,
            account,
            subscription_id=subscription_id,
            lines=[documents.kept],
            goodwill=kept,
        )
    if documents.rest is not None and documents.rest.amount.amount > 0:
        issue_credit(session, now, account, subscription_id=subscription_id, lines=[documents.rest])


def refund_to_card_on_file(
    session: Session,
    now: datetime,
    account: Account,
    *,
    source_id: uuid.UUID,
    lines: Sequence[LineDraft],
) -> CreditNote:
    """Refund money paid before our gateway (legacy, M2) to the card on file: a refund note
    now, a card credit through the outbox after the commit (key `refund:<note>:<source>`).
    No card on file: PaymentMethodRequired (402)."""
    method = require_payment_method(session, account)
    corrects = BillingRepository(session).latest_paid_invoice(source_id)
    note = _credit_note(
        session, now, account, CreditNoteKind.REFUND, None, lines, corrects=corrects
    )
    notify(session, account.id, Kind.REFUND_ISSUED, now, _note_data(note))
    session.add(
        RefundOutbox(
            idempotency_key=f"refund:{note.id}:{source_id}",
            credit_note_id=note.id,
            card_payment_id=None,
            gateway_charge_id=None,
            card_token=method.gateway_token,
            amount=note.total,
            currency=note.currency,
            status=OutboxStatus.PENDING,
            gateway_refund_id=None,
            created_at=now,
            done_at=None,
        )
    )
    return note


def _note_data(note: CreditNote) -> dict[str, object]:
    return {
        "credit_note_id": str(note.id),
        "subscription_id": str(note.subscription_id) if note.subscription_id else None,
        "number": note.number,
        "amount": {"amount": note.total, "currency": note.currency},
    }


def _queue_refunds(
    session: Session, now: datetime, note: CreditNote, allocations: list[tuple[str, Money]]
) -> None:
    for payment_id, amount in allocations:
        payment = session.get(CardPayment, uuid.UUID(payment_id))
        assert payment is not None
        payment.refunded += amount.amount  # reserved now, carried out after the commit
        session.add(
            RefundOutbox(
                idempotency_key=f"refund:{note.id}:{payment.gateway_charge_id}",
                credit_note_id=note.id,
                card_payment_id=payment.id,
                gateway_charge_id=payment.gateway_charge_id,
                amount=amount.amount,
                currency=amount.currency,
                status=OutboxStatus.PENDING,
                gateway_refund_id=None,
                created_at=now,
                done_at=None,
            )
        )


def _credit_note(
    session: Session,
    now: datetime,
    account: Account,
    kind: CreditNoteKind,
    subscription_id: uuid.UUID | None,
    lines: Sequence[LineDraft],
    *,
    corrects: Invoice | None = None,
) -> CreditNote:
    """A numbered credit note; it corrects `corrects`, or else the newest paid invoice of
    its subscription (the period it credits)."""
    currency = currency_of(account)
    repository = BillingRepository(session)
    if corrects is None and subscription_id is not None:
        corrects = repository.latest_paid_invoice(subscription_id)
    note = CreditNote(
        id=uuid.uuid4(),
        customer=customer_snapshot(account, repository.address(account.id)),
        invoice_id=corrects.id if corrects is not None else None,
        number=f"CN-{BillingRepository(session).take_number(CREDIT_NOTE_SEQUENCE):06d}",
        account_id=account.id,
        subscription_id=subscription_id,
        kind=kind,
        currency=currency,
        total=total(lines, currency).amount,
        created_at=now,
        tax=document_tax(lines),
        lines=[
            CreditNoteLine(
                position=i,
                description=line.description,
                amount=line.amount.amount,
                period_start=line.period_start,
                period_end=line.period_end,
                **_tax_columns(line),
            )
            for i, line in enumerate(lines)
        ],
    )
    assert note.total > 0, "a credit note documents a positive amount"
    session.add(note)
    session.flush()
    return note


def _invoice_line(position: int, line: LineDraft) -> InvoiceLine:
    assert line.period_start is not None and line.period_end is not None
    return InvoiceLine(
        position=position,
        description=line.description,
        amount=line.amount.amount,
        period_start=line.period_start,
        period_end=line.period_end,
        **_tax_columns(line),
    )


def customer_snapshot(account: Account, row: BillingAddress | None) -> dict[str, Any]:
    """The customer as a document shows it when issued (issue 14 item 2): the billing
    address and VAT number, or (none given yet) the account's country alone."""
    if row is None:
        return {"country": account.country}
    return {
        "name": row.name,
        "line1": row.line1,
        "line2": row.line2,
        "city": row.city,
        "region": row.region,
        "postal_code": row.postal_code,
        "country": row.country,
        "vat_number": row.vat_number,
    }


def _tax_columns(line: LineDraft) -> dict[str, Any]:
    """A line's net, tax and rate columns (issue 14 item 1): net + tax = amount."""
    parts = line.split
    return {
        "net": parts.net.amount,
        "tax": parts.tax.amount,
        "tax_rate": line.tax.rate if line.tax is not None else None,
    }


def document_tax(lines: Sequence[LineDraft]) -> dict[str, Any] | None:
    """A document's tax treatment: that of its taxed lines (one treatment a document)."""
    for line in lines:
        if line.tax is not None:
            return line.tax.as_json()
    return None


def _ledger(
    session: Session,
    account: Account,
    amount: Money,
    now: datetime,
    reason: str,
    *,
    invoice: Invoice | None = None,
    note: CreditNote | None = None,
    refundable: bool = True,
) -> None:
    session.add(
        BalanceEntry(
            account_id=account.id,
            amount=amount.amount,
            currency=amount.currency,
            reason=reason,
            invoice_id=invoice.id if invoice else None,
            credit_note_id=note.id if note else None,
            created_at=now,
            refundable=refundable,
        )
    )


def invoices(session: Session, account: Account) -> list[Invoice]:
    return BillingRepository(session).invoices(account.id)


def invoice(session: Session, account: Account, invoice_id: uuid.UUID) -> Invoice:
    found = BillingRepository(session).invoice(account.id, invoice_id)
    if found is None:
        raise NotFound("No such invoice")
    return found


def credit_note(session: Session, account: Account, note_id: uuid.UUID) -> CreditNote:
    found = BillingRepository(session).credit_note(account.id, note_id)
    if found is None:
        raise NotFound("No such credit note")
    return found


def credit_notes(session: Session, account: Account) -> list[CreditNote]:
    return BillingRepository(session).credit_notes(account.id)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
