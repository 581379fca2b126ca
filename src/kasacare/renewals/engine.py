"""One renewal and dunning engine for every kind of paid plan (T4, M5, M7, L1).

A kind (`RenewalKind`: the new plans in `subscriptions/renewal.py`, legacy plans in
`legacy/renewal.py`) says how its rows renew, what their next period's lines are and how
they end; the engine does the rest, the same way for both:

- A live row whose period has ended renews: the next period on the anchor's calendar,
  invoiced, paid from the balance then the card (`Pays.renewal(row, period_start)`, so the
  attempt's key is `renewal:<row>:<period_start>`). A kind may end a row at its period's end
  instead (an app-store legacy plan that was not extended).
- A failed charge leaves an open invoice and makes the row past_due (cameras keep their
  plan); retries come 1, 3, 5 and 7 days after the first failure, and at once when the card
  is replaced. A success keeps the anchor. After the last failure the kind ends the row.
- The owner is told of every failed charge, and when the next try comes.

Every step locks the account, then the row (`billing.locks`), and runs as one use case
through `billing.charging.run_charged`: safe to rerun.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing import addresses
from kasacare.billing import service as billing
from kasacare.billing.charging import Payer, Pays
from kasacare.billing.locks import claim_account, lock_account
from kasacare.billing.models import Invoice
from kasacare.billing.repository import BillingRepository
from kasacare.billing.rules import LineDraft
from kasacare.billing.tax import TaxTreatment
from kasacare.catalog.schemas import Catalog
from kasacare.kit.calendar import Cycle, period_index, period_start
from kasacare.legacy.models import LegacySubscription
from kasacare.notifications.models import Kind
from kasacare.notifications.service import notify
from kasacare.payments.errors import CardDeclined, PaymentMethodRequired
from kasacare.subscriptions.models import Subscription

RETRY_DAYS = (1, 3, 5, 7)


#: The rows the engine renews: both have the same period, dunning and job columns.
Row = TypeVar("Row", Subscription, LegacySubscription)


class RenewalKind(Protocol[Row]):
    """What the engine needs to know of one kind of plan."""

    #: The mapped class; its `id`, `account_id`, period, dunning and job columns are used.
    model: Any

    def renewing(self) -> ColumnElement[bool]:
        """Rows whose period's end is due: a renewal (or, for some, an end)."""
        ...

    def retrying(self) -> ColumnElement[bool]:
        """Rows in dunning (past_due)."""
        ...

    def lock(self, session: Session, row_id: uuid.UUID) -> Row | None:
        """The row, locked (after its account: `billing.locks`), or None."""
        ...

    def is_live(self, row: Row) -> bool: ...

    def is_renewing(self, row: Row) -> bool: ...

    def is_past_due(self, row: Row) -> bool: ...

    def ends_at_period_end(self, row: Row) -> bool:
        """True for a row that ends instead of renewing (billed elsewhere)."""
        ...

    def start_period(
        self, catalog: Catalog, row: Row, start: datetime, end: datetime, tax: TaxTreatment
    ) -> list[LineDraft]:
        """Move the row to the period [start, end) (unpaid yet) and return its lines, taxed
        at `tax` (the account's billing address now)."""
        ...

    def mark_paid(self, row: Row) -> None:
        """The current period is paid: the row is active (its anchor kept)."""
        ...

    def mark_past_due(self, row: Row) -> None: ...

    def end_unpaid(
        self, session: Session, catalog: Catalog, now: datetime, account: Account, row: Row
    ) -> None:
        """End the row with nothing to refund for its period: after the last failed retry,
        or at its period's end when it `ends_at_period_end`."""
        ...

    def notice(self, row: Row) -> dict[str, str]:
        """What names the row in the owner's notifications."""
        ...


def period_after(anchor: datetime, cycle: Cycle, start: datetime) -> datetime:
    """The end of the renewal period that starts at `start`, on the anchor's calendar (M7)."""
    return period_start(anchor, cycle, period_index(anchor, cycle, start) + 1)


def next_due(
    session: Session, kind: RenewalKind[Any], after: datetime | None = None
) -> datetime | None:
    """The earliest instant later than `after` at which a renewal or a retry of this kind
    falls due; for a row whose last step failed, not before its back-off ends."""
    model = kind.model
    later = [] if after is None else [model.current_period_end > after]
    later_retry = [] if after is None else [model.next_retry_at > after]
    renewals = session.scalar(
        select(func.min(model.current_period_end)).where(
            kind.renewing(), model.job_retry_at.is_(None), *later
        )
    )
    retries = session.scalar(
        select(func.min(model.next_retry_at)).where(
            kind.retrying(), model.job_retry_at.is_(None), *later_retry
        )
    )
    # Rows that failed (few): due at the later of their own instant and their back-off.
    backed_off = [
        max(due, retry_at)
        for due, retry_at in session.execute(
            select(
                case((kind.retrying(), model.next_retry_at), else_=model.current_period_end),
                model.job_retry_at,
            ).where(kind.renewing() | kind.retrying(), model.job_retry_at.is_not(None))
        )
        if due is not None
    ]
    candidates = [
        moment
        for moment in (renewals, retries, *backed_off)
        if moment is not None and (after is None or moment > after)
    ]
    return min(candidates) if candidates else None


def due_at(
    session: Session,
    kind: RenewalKind[Any],
    moment: datetime,
    limit: int = 100,
    after_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Rows with a renewal or retry due at or before `moment`, except those waiting for the
    back-off of a failed step, in id order after `after_id` (a page at a time). Each runs
    under its account's lock (`advance`), so two workers that pick the same one run it
    once."""
    model = kind.model
    return list(
        session.scalars(
            select(model.id)
            .where(
                (kind.renewing() & (model.current_period_end <= moment))
                | (kind.retrying() & (model.next_retry_at <= moment)),
                model.job_retry_at.is_(None) | (model.job_retry_at <= moment),
                *([] if after_id is None else [model.id > after_id]),
            )
            .order_by(model.id)
            .limit(limit)
        )
    )


def advance(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    kind: RenewalKind[Row],
    row_id: uuid.UUID,
    *,
    claim: bool = False,
) -> bool:
    """Run whatever is due for one row at `now`: a renewal (or end), or a retry. With
    `claim`, a row whose account another transaction holds is left at once (False): a job
    worker takes the next one, and the holder (or the next run) does this one."""
    locked = _lock(session, kind, row_id, claim=claim)
    if locked is None:
        return not claim or _gone(session, kind, row_id)
    account, row = locked
    if kind.is_renewing(row) and row.current_period_end <= now:
        if kind.ends_at_period_end(row):
            kind.end_unpaid(session, catalog, now, account, row)
        else:
            _renew(session, catalog, payer, now, kind, account, row)
    elif kind.is_past_due(row) and row.next_retry_at is not None and row.next_retry_at <= now:
        retry(session, catalog, payer, now, kind, account, row)
    return True


def _renew(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    kind: RenewalKind[Row],
    account: Account,
    row: Row,
) -> None:
    start = row.current_period_end
    end = period_after(row.anchor, row.cycle, start)
    tax = addresses.treatment(session, catalog, account)
    lines = kind.start_period(catalog, row, start, end, tax)
    try:
        billing.issue_invoice(
            session,
            payer,
            now,
            account,
            subscription_id=row.id,
            lines=lines,
            pays=Pays.renewal(row.id, start),
        )
    except (CardDeclined, PaymentMethodRequired):
        invoice = billing.issue_open_invoice(
            session, now, account, subscription_id=row.id, lines=lines
        )
        kind.mark_past_due(row)
        row.dunning_since = now
        row.retries_done = 0
        row.next_retry_at = now + timedelta(days=RETRY_DAYS[0])
        _payment_failed(session, now, kind, row, invoice)
        return
    kind.mark_paid(row)


def retry(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    kind: RenewalKind[Row],
    account: Account,
    row: Row,
    *,
    scheduled: bool = True,
) -> bool:
    """Try the open invoice again: a scheduled retry, or one at once when the card is
    replaced (`scheduled=False`, which leaves the schedule as it was). True when paid."""
    (invoice,) = BillingRepository(session).open_invoices(row.id)
    try:
        billing.pay_open_invoice(
            session,
            payer,
            now,
            account,
            invoice,
            pays=Pays.renewal(row.id, row.current_period_start),
        )
    except (CardDeclined, PaymentMethodRequired):
        if scheduled:
            row.retries_done += 1
            if row.retries_done >= len(RETRY_DAYS):
                _payment_failed(session, now, kind, row, invoice, last=True)
                kind.end_unpaid(session, catalog, now, account, row)
                return False
            assert row.dunning_since is not None
            row.next_retry_at = row.dunning_since + timedelta(days=RETRY_DAYS[row.retries_done])
        _payment_failed(session, now, kind, row, invoice)
        return False
    kind.mark_paid(row)  # the anchor is kept (M5)
    row.dunning_since = None
    row.retries_done = 0
    row.next_retry_at = None
    return True


def retry_on_card_change(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    kind: RenewalKind[Row],
    row_id: uuid.UUID,
) -> bool:
    """M2: a replaced card pays a past_due row's open invoice at once."""
    locked = _lock(session, kind, row_id)
    if locked is None or not kind.is_past_due(locked[1]):
        return False
    account, row = locked
    return retry(session, catalog, payer, now, kind, account, row, scheduled=False)


def _lock(
    session: Session, kind: RenewalKind[Row], row_id: uuid.UUID, *, claim: bool = False
) -> tuple[Account, Row] | None:
    """The row's account, then the row, locked in that order (`billing.locks`); None when
    the row is gone or no longer live (or, with `claim`, its account is held elsewhere)."""
    account_id = session.scalar(select(kind.model.account_id).where(kind.model.id == row_id))
    if account_id is None:
        return None
    account = claim_account(session, account_id) if claim else lock_account(session, account_id)
    if account is None:
        return None
    row = kind.lock(session, row_id)
    if row is None or not kind.is_live(row):
        return None
    return account, row


def _gone(session: Session, kind: RenewalKind[Row], row_id: uuid.UUID) -> bool:
    return session.scalar(select(kind.model.id).where(kind.model.id == row_id)) is None


def _payment_failed(
    session: Session,
    now: datetime,
    kind: RenewalKind[Row],
    row: Row,
    invoice: Invoice,
    *,
    last: bool = False,
) -> None:
    """M5: the owner is told of every failed charge, and when the next try comes."""
    retry_at = None if last else row.next_retry_at
    ends_at = row.dunning_since + timedelta(days=RETRY_DAYS[-1]) if row.dunning_since else None
    notify(
        session,
        row.account_id,
        Kind.PAYMENT_FAILED,
        now,
        {
            **kind.notice(row),
            "invoice_id": str(invoice.id),
            "invoice_number": invoice.number,
            "amount": {"amount": invoice.total, "currency": invoice.currency},
            "next_retry_at": _iso(retry_at) if retry_at else None,
            # The plan ends then unless a try succeeds (issue 14 item 3: the end date told).
            "ends_at": _iso(ends_at) if ends_at and not last else None,
        },
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
