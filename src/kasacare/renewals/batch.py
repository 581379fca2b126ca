"""Renewals in batches (issue 10, throughput): the common renewal, a new-plan subscription
whose period has ended, with no credit balance and a card on file, for a page of rows at
once, in three transactions for the whole page instead of three for each row:

    claim   lock the accounts (SKIP LOCKED: another worker's are left to it), then the rows;
            plan each renewal; commit each one's pending payment attempt, with the key the
            one-at-a-time path gives (`renewal:<subscription>:<period_start>`)
    charge  every attempt at the gateway at once (`payments.gateway.charge_all`: one call
            where the gateway takes batches, concurrent calls where it does not)
    apply   lock again; each row whose renewal is still what was charged gets its invoice
            (numbers taken once for the page), card payment, settled attempt and next
            period, all in one transaction

Everything else goes to the one-at-a-time path (`renewals.engine` through
`jobs._isolated`), each row in its own transaction: a retry, a row that needs its balance or
has no card, a row that changed meanwhile, and the whole page when a step fails. A declined
charge is handed over with its decline (no second gateway call). An attempt left pending is
reused by that path under the same key, so the gateway answers its first charge and nothing is
charged twice; if nothing takes it up, the reconciler refunds it. A charged row that stopped
being due meanwhile (cancelled) is refunded at once. So the batch keeps every guarantee of
`billing.charging`, and a row that fails stops no other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing.addresses import treatment_of
from kasacare.billing.charging import reverse
from kasacare.billing.documents import card_label
from kasacare.billing.locks import lock_accounts, lock_documents, lock_plans
from kasacare.billing.models import (
    AttemptPurpose,
    AttemptStatus,
    BalanceEntry,
    CardPayment,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    PaymentAttempt,
)
from kasacare.billing.reconciler import RECONCILE_AFTER
from kasacare.billing.repository import BillingRepository
from kasacare.billing.rules import LineDraft
from kasacare.billing.service import INVOICE_SEQUENCE, customer_snapshot, document_tax
from kasacare.billing.tax import TaxTreatment
from kasacare.catalog.schemas import Catalog
from kasacare.kit.calendar import Cycle
from kasacare.kit.db import table_of
from kasacare.kit.failpoints import failpoint
from kasacare.notifications.models import Kind, Notification
from kasacare.notifications.reminders import reminder_instants
from kasacare.payments.errors import CardDeclined
from kasacare.payments.gateway import Charge, ChargeRequest, PaymentGateway, charge_all
from kasacare.payments.models import PaymentMethod
from kasacare.renewals.engine import period_after
from kasacare.subscriptions.models import Status, Subscription, SubscriptionCamera
from kasacare.subscriptions.renewal import NEW_PLANS, period_line

log = logging.getLogger("kasacare.renewals.batch")

#: A pending attempt younger than this is another worker's renewal in flight: left to it.
#: Older, it was left by a crash: the one-at-a-time path takes it up (before the reconciler,
#: which waits twice as long, would refund it).
IN_FLIGHT = RECONCILE_AFTER / 2

_COLUMNS = (
    Subscription.id,
    Subscription.account_id,
    Subscription.plan,
    Subscription.cycle,
    Subscription.currency,
    Subscription.anchor,
    Subscription.trial_end,
    Subscription.current_period_end,
)


@dataclass(frozen=True, slots=True)
class Renewal:
    """One renewal of the batch, as planned: the period [start, end) at `line`'s price."""

    subscription_id: uuid.UUID
    account_id: uuid.UUID
    attempt_id: uuid.UUID
    token: str
    line: LineDraft
    unit_price: int
    trial_end: datetime | None
    cycle: Cycle
    #: What the renewal was planned from (`_basis`): the same basis plans the same renewal.
    basis: tuple[Any, ...]

    @property
    def key(self) -> str:
        assert self.line.period_start is not None
        return f"renewal:{self.subscription_id}:{self.line.period_start.isoformat()}"

    @property
    def request(self) -> ChargeRequest:
        return ChargeRequest(self.token, self.line.amount, self.key)


@dataclass(slots=True)
class BatchOutcome:
    """What became of each row of the page."""

    renewed: list[uuid.UUID] = field(default_factory=list)
    #: Another transaction has it (its account, or its renewal in flight).
    held: list[uuid.UUID] = field(default_factory=list)
    #: To run one at a time (`renewals.engine.advance`), with the decline where one came.
    one_by_one: list[tuple[uuid.UUID, CardDeclined | None]] = field(default_factory=list)


def renew_batch(
    sessions: Callable[[], Session],
    gateway: PaymentGateway,
    catalog: Catalog,
    due: datetime,
    recorded_at: datetime,
    row_ids: Sequence[uuid.UUID],
) -> BatchOutcome:
    """Renew what can be renewed together of `row_ids` (subscriptions due at `due`); see
    the module docstring. `recorded_at`: when the attempts are really made (as in
    `billing.charging.run_charged`)."""
    outcome = BatchOutcome()
    with sessions() as session:
        renewals = _claim(session, catalog, due, recorded_at, row_ids, outcome)
        session.commit()
    if not renewals:
        return outcome
    failpoint("charge.before_gateway")
    try:
        answers = charge_all(gateway, [renewal.request for renewal in renewals], now=due)
    except Exception:
        log.exception("renewal batch: the gateway failed; %d rows go one at a time", len(renewals))
        outcome.one_by_one += [(renewal.subscription_id, None) for renewal in renewals]
        return outcome
    failpoint("charge.after_gateway")
    to_reverse: list[tuple[uuid.UUID, Charge]] = []
    with sessions() as session:
        try:
            to_reverse = _apply(session, catalog, due, renewals, answers, outcome)
            failpoint("charge.before_commit")
            session.commit()
        except Exception:
            session.rollback()
            log.exception("renewal batch: apply failed; %d rows go one at a time", len(renewals))
            # Their attempts stay pending: each row's own run reuses its key.
            outcome.renewed.clear()
            outcome.one_by_one += [(renewal.subscription_id, None) for renewal in renewals]
            return outcome
    failpoint("commit.after")
    for attempt_id, charge in to_reverse:
        try:
            with sessions() as session:
                reverse(session, gateway, due, attempt_id, charge)
        except Exception:
            # The attempt is committed `reversing`: the reconciler finishes the refund. The
            # page's other rows keep their outcome.
            log.exception("payment attempt %s: reversal failed; the reconciler retries", attempt_id)
    return outcome


def _claim(
    session: Session,
    catalog: Catalog,
    due: datetime,
    recorded_at: datetime,
    row_ids: Sequence[uuid.UUID],
    outcome: BatchOutcome,
) -> list[Renewal]:
    """Lock, sort and plan the page; add the pending attempts of the renewals to charge."""
    owners = dict(
        session.execute(
            select(Subscription.id, Subscription.account_id).where(Subscription.id.in_(row_ids))
        ).all()
    )
    claimed = lock_accounts(session, owners.values(), skip_locked=True)
    outcome.held += [row_id for row_id, account_id in owners.items() if account_id not in claimed]
    mine = [row_id for row_id, account_id in owners.items() if account_id in claimed]
    rows = _lock_due(session, mine, due)
    due_ids = {row.id for row in rows}
    outcome.one_by_one += [(row_id, None) for row_id in mine if row_id not in due_ids]
    if not rows:
        return []
    seats, balances, tokens = (
        _seats(session, due_ids),
        _balances(session, rows),
        _tokens(session, rows),
    )
    taxes = _taxes(session, catalog, rows)
    lock_documents(session)
    earlier = _attempts(session, rows)
    renewals: list[Renewal] = []
    for row in rows:
        attempt = earlier.get(row.id)
        in_flight = attempt is not None and attempt[0] is AttemptStatus.PENDING
        if in_flight and attempt is not None and attempt[1] > recorded_at - IN_FLIGHT:
            outcome.held.append(row.id)  # another worker's renewal, in flight
            continue
        renewal = _plan(catalog, row, seats, balances, tokens, taxes) if attempt is None else None
        if renewal is None:
            outcome.one_by_one.append((row.id, None))
            continue
        renewals.append(renewal)
    if renewals:
        session.execute(
            insert(_ATTEMPTS),
            [
                {
                    "id": renewal.attempt_id,
                    "account_id": renewal.account_id,
                    "purpose": AttemptPurpose.RENEWAL,
                    "subscription_id": renewal.subscription_id,
                    "period_start": renewal.line.period_start,
                    "amount": renewal.line.amount.amount,
                    "currency": renewal.line.amount.currency,
                    "idempotency_key": renewal.key,
                    "status": AttemptStatus.PENDING,
                    "created_at": recorded_at,
                }
                for renewal in renewals
            ],
        )
    return renewals


def _apply(
    session: Session,
    catalog: Catalog,
    due: datetime,
    renewals: list[Renewal],
    answers: list[Charge | CardDeclined],
    outcome: BatchOutcome,
) -> list[tuple[uuid.UUID, Charge]]:
    """Record the charged renewals that are still what was charged; sort out the others.
    Answers the charges to refund after the commit (their rows stopped being due)."""
    ids = [renewal.subscription_id for renewal in renewals]
    lock_accounts(session, {renewal.account_id for renewal in renewals})  # we hold charges
    rows = {row.id: row for row in _lock_due(session, ids, due)}
    seats, balances = _seats(session, rows), _balances(session, rows.values())
    taxes = _taxes(session, catalog, rows.values())
    lock_documents(session)
    pending = set(
        session.scalars(
            select(PaymentAttempt.id)
            .where(
                PaymentAttempt.id.in_([renewal.attempt_id for renewal in renewals]),
                PaymentAttempt.status == AttemptStatus.PENDING,
            )
            .order_by(PaymentAttempt.id)
            .with_for_update()
        )
    )
    paid: list[tuple[Renewal, Charge]] = []
    declined: list[tuple[Renewal, CardDeclined]] = []
    to_reverse: list[tuple[uuid.UUID, Charge]] = []
    for renewal, answer in zip(renewals, answers, strict=True):
        if renewal.attempt_id not in pending:
            outcome.held.append(renewal.subscription_id)  # settled by another run
            continue
        row = rows.get(renewal.subscription_id)
        if row is None or row.current_period_end != renewal.line.period_start:
            # No longer due (ended or renewed meanwhile): a charge it took pays nothing.
            if isinstance(answer, Charge):
                to_reverse.append((renewal.attempt_id, answer))
            outcome.held.append(renewal.subscription_id)
            continue
        if _basis(row, seats, taxes) != renewal.basis or balances.get(row.account_id, 0) != 0:
            outcome.one_by_one.append((renewal.subscription_id, None))  # changed: on its own
        elif isinstance(answer, CardDeclined):
            declined.append((renewal, answer))
        else:
            paid.append((renewal, answer))
    _record_paid(session, due, paid)
    if declined:
        _update_by_id(
            session,
            _ATTEMPTS,
            [
                {
                    "id": renewal.attempt_id,
                    "status": AttemptStatus.DECLINED,
                    "decline_code": answer.decline_code,
                    "settled_at": due,
                }
                for renewal, answer in declined
            ],
        )
        # M5 from here on is the one-at-a-time path's: handed the decline, it charges nothing.
        outcome.one_by_one += [(renewal.subscription_id, answer) for renewal, answer in declined]
    outcome.renewed += [renewal.subscription_id for renewal, _ in paid]
    return to_reverse


def _record_paid(session: Session, due: datetime, paid: list[tuple[Renewal, Charge]]) -> None:
    """The invoices, card payments, settled attempts and next periods of `paid`."""
    if not paid:
        return
    numbers = BillingRepository(session).take_numbers(INVOICE_SEQUENCE, len(paid))
    customers, cards = _documented(session, {renewal.account_id for renewal, _ in paid})
    invoices, lines, payments, attempts, subscriptions, receipts = [], [], [], [], [], []
    for number, (renewal, charge) in zip(numbers, paid, strict=True):
        invoice_id = uuid.uuid4()
        line = renewal.line
        assert line.period_start is not None and line.period_end is not None
        amount = line.amount.amount
        invoices.append(
            {
                "id": invoice_id,
                "number": f"INV-{number:06d}",
                "account_id": renewal.account_id,
                "subscription_id": renewal.subscription_id,
                "status": InvoiceStatus.PAID,
                "currency": line.amount.currency,
                "total": amount,
                "credit_used": 0,
                "charged": amount,
                "created_at": due,
                "paid_at": due,
                "tax": document_tax([line]),
                "customer": customers[renewal.account_id],
                **cards.get((renewal.account_id, charge.token), {}),
            }
        )
        lines.append(
            {
                "id": uuid.uuid4(),
                "invoice_id": invoice_id,
                "position": 0,
                "description": line.description,
                "amount": amount,
                "period_start": line.period_start,
                "period_end": line.period_end,
                "net": line.split.net.amount,
                "tax": line.split.tax.amount,
                "tax_rate": line.tax.rate if line.tax is not None else None,
            }
        )
        payments.append(
            {
                "id": uuid.uuid4(),
                "account_id": renewal.account_id,
                "invoice_id": invoice_id,
                "gateway_charge_id": charge.id,
                "amount": charge.amount.amount,
                "refunded": 0,
                "currency": line.amount.currency,
                "created_at": due,
            }
        )
        attempts.append(
            {
                "id": renewal.attempt_id,
                "status": AttemptStatus.SUCCEEDED,
                "invoice_id": invoice_id,
                "gateway_charge_id": charge.id,
                "settled_at": due,
            }
        )
        card = cards.get((renewal.account_id, charge.token), {})
        receipts.append(
            {
                "id": uuid.uuid4(),
                "account_id": renewal.account_id,
                "kind": Kind.PAYMENT_RECEIVED,
                "created_at": due,
                "data": {
                    "invoice_id": str(invoice_id),
                    "number": f"INV-{number:06d}",
                    "subscription_id": str(renewal.subscription_id),
                    "amount": {"amount": amount, "currency": line.amount.currency},
                    "credit_used": 0,
                    "charged": amount,
                    "card": card_label(card.get("card_brand"), card.get("card_last4")),
                    "period_end": line.period_end.isoformat().replace("+00:00", "Z"),
                },
            }
        )
        trial_at, renewal_at = reminder_instants(
            Status.ACTIVE, renewal.cycle, renewal.trial_end, line.period_end, auto_renew=True
        )
        subscriptions.append(
            {
                "id": renewal.subscription_id,
                "status": Status.ACTIVE,
                "current_period_start": line.period_start,
                "current_period_end": line.period_end,
                "unit_price": renewal.unit_price,
                "tax": line.tax.as_json() if line.tax is not None else None,
                "trial_reminder_at": trial_at,
                "renewal_reminder_at": renewal_at,
                "job_failures": 0,
                "job_retry_at": None,
            }
        )
    session.execute(insert(table_of(Invoice)), invoices)
    session.execute(insert(table_of(InvoiceLine)), lines)
    session.execute(insert(table_of(CardPayment)), payments)
    _update_by_id(session, _ATTEMPTS, attempts)
    _update_by_id(session, table_of(Subscription), subscriptions)
    # The receipts (issue 14 item 3), as `billing.service` writes one for each paid invoice.
    session.execute(insert(table_of(Notification)), receipts)


_ATTEMPTS = table_of(PaymentAttempt)


def _update_by_id(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE each row of `table` by its id to the values given (one executemany)."""
    if not rows:
        return
    names = [name for name in rows[0] if name != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in names})
    )
    session.execute(
        statement,
        [{"row_id": row["id"], **{f"new_{name}": row[name] for name in names}} for row in rows],
    )


def _lock_due(session: Session, ids: Sequence[uuid.UUID], due: datetime) -> list[Row[Any]]:
    """Those of `ids` whose renewal (not a retry) is due at `due`, locked in id order."""
    if not ids:
        return []
    lock_plans(session)
    return list(
        session.execute(
            select(*_COLUMNS)
            .where(
                Subscription.id.in_(ids),
                NEW_PLANS.renewing(),
                Subscription.auto_renew.is_(True),  # the others end: one at a time
                Subscription.current_period_end <= due,
                Subscription.job_retry_at.is_(None) | (Subscription.job_retry_at <= due),
            )
            .order_by(Subscription.id)
            .with_for_update()
        )
    )


def _seats(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Per subscription, its cameras."""
    return dict(
        session.execute(
            select(SubscriptionCamera.subscription_id, func.count())
            .where(
                SubscriptionCamera.subscription_id.in_(list(ids)),
                SubscriptionCamera.removed_at.is_(None),
            )
            .group_by(SubscriptionCamera.subscription_id)
        ).all()
    )


def _balances(session: Session, rows: Iterable[Row[Any]]) -> dict[uuid.UUID, int]:
    """Per account of `rows`, its credit balance (absent: none)."""
    return dict(
        session.execute(
            select(BalanceEntry.account_id, func.sum(BalanceEntry.amount))
            .where(BalanceEntry.account_id.in_({row.account_id for row in rows}))
            .group_by(BalanceEntry.account_id)
        ).all()
    )


def _tokens(session: Session, rows: Iterable[Row[Any]]) -> dict[uuid.UUID, str]:
    """Per account of `rows`, its card's gateway token (absent: no card on file)."""
    return dict(
        session.execute(
            select(PaymentMethod.account_id, PaymentMethod.gateway_token).where(
                PaymentMethod.account_id.in_({row.account_id for row in rows})
            )
        ).all()
    )


def _attempts(
    session: Session, rows: list[Row[Any]]
) -> dict[uuid.UUID, tuple[AttemptStatus, datetime]]:
    """Per row, the newest attempt made for the period it renews into, if any."""
    starts = {row.id: row.current_period_end for row in rows}
    found: dict[uuid.UUID, tuple[AttemptStatus, datetime]] = {}
    for subscription_id, period_start, status, created_at in session.execute(
        select(
            PaymentAttempt.subscription_id,
            PaymentAttempt.period_start,
            PaymentAttempt.status,
            PaymentAttempt.created_at,
        )
        .where(PaymentAttempt.subscription_id.in_(list(starts)))
        .order_by(PaymentAttempt.created_at)
    ):
        if subscription_id is not None and period_start == starts[subscription_id]:
            found[subscription_id] = (status, created_at)
    return found


def _plan(
    catalog: Catalog,
    row: Row[Any],
    seats: dict[uuid.UUID, int],
    balances: dict[uuid.UUID, int],
    tokens: dict[uuid.UUID, str],
    taxes: dict[uuid.UUID, TaxTreatment],
) -> Renewal | None:
    """The renewal of `row` if the batch can make it: a charge of the whole period to the
    card on file (no balance to spend first: that is the one-at-a-time path's)."""
    token = tokens.get(row.account_id)
    if token is None or balances.get(row.account_id, 0) != 0:
        return None
    start = row.current_period_end
    end = period_after(row.anchor, row.cycle, start)
    line, price = period_line(
        catalog,
        row.plan,
        row.cycle,
        row.currency,
        seats.get(row.id, 0),
        start,
        end,
        taxes[row.account_id],
    )
    if line.amount.amount <= 0:
        return None
    return Renewal(
        subscription_id=row.id,
        account_id=row.account_id,
        attempt_id=uuid.uuid4(),
        token=token,
        line=line,
        unit_price=price.amount,
        trial_end=row.trial_end,
        cycle=row.cycle,
        basis=_basis(row, seats, taxes),
    )


def _basis(
    row: Row[Any], seats: dict[uuid.UUID, int], taxes: dict[uuid.UUID, TaxTreatment]
) -> tuple[Any, ...]:
    """Everything a renewal's plan is computed from, but the balance and the card."""
    return (
        row.plan,
        row.cycle,
        row.currency,
        row.anchor,
        row.current_period_end,
        seats.get(row.id, 0),
        taxes[row.account_id],
    )


def _documented(
    session: Session, account_ids: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, dict[str, Any]], dict[tuple[uuid.UUID, str], dict[str, str]]]:
    """What the invoices of these accounts show (issue 14 item 2): the customer as billed
    now, and per (account, gateway token) the card charged."""
    accounts = session.scalars(select(Account).where(Account.id.in_(account_ids)))
    found = BillingRepository(session).addresses(account_ids)
    customers = {
        account.id: customer_snapshot(account, found.get(account.id)) for account in accounts
    }
    cards = {
        (method.account_id, method.gateway_token): {
            "card_brand": method.brand.value,
            "card_last4": method.last4,
        }
        for method in session.scalars(
            select(PaymentMethod).where(PaymentMethod.account_id.in_(account_ids))
        )
    }
    return customers, cards


def _taxes(
    session: Session, catalog: Catalog, rows: Iterable[Row[Any]]
) -> dict[uuid.UUID, TaxTreatment]:
    """Per account of `rows`, the tax of its billing address (issue 14 item 1)."""
    account_ids = {row.account_id for row in rows}
    countries = dict(
        session.execute(
            select(Account.id, Account.country).where(Account.id.in_(account_ids))
        ).all()
    )
    found = BillingRepository(session).addresses(account_ids)
    return {
        account_id: treatment_of(catalog, countries[account_id] or "", found.get(account_id))
        for account_id in account_ids
    }


__all__ = ["IN_FLIGHT", "BatchOutcome", "Renewal", "renew_batch"]
