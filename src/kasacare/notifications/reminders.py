"""Reminders that fall due with time (SPEC section 2): `trial_ending` 3 days before a trial
ends, `annual_renewal` 7 days before an annual renewal, `card_expiring` 30 days before the card
on file expires while a subscription uses it, and `subscription_ending` 3 days before a plan
whose auto-renew is off stops (issue 14 item 5; it takes the renewal reminder's column, as
it replaces that reminder).

Each has an indexed due-instant column on its row (`Subscription.trial_reminder_at`,
`Subscription.renewal_reminder_at`, `PaymentMethod.expiry_reminder_at`), set by `schedule_*`
when the row takes the state that calls for it and cleared when the reminder is sent. A job
run sends the due ones at their own due instants, each row in its own transaction, picked
`FOR UPDATE SKIP LOCKED` so several processes share them; the dedupe key of the notification
guards against a second send all the same.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from kasacare.kit.calendar import Cycle
from kasacare.kit.db import session_scope
from kasacare.notifications.models import Kind
from kasacare.notifications.service import already_sent, notify
from kasacare.payments.cards import valid_until
from kasacare.payments.models import PaymentMethod
from kasacare.subscriptions.models import Status, Subscription

log = logging.getLogger("kasacare.notifications.reminders")

TRIAL_ENDING_BEFORE = timedelta(days=3)
ANNUAL_RENEWAL_BEFORE = timedelta(days=7)
ENDING_BEFORE = timedelta(days=3)
CARD_EXPIRING_BEFORE = timedelta(days=30)


def schedule_subscription(subscription: Subscription) -> None:
    """Set the subscription's reminder instants for its current state and period."""
    subscription.trial_reminder_at, subscription.renewal_reminder_at = reminder_instants(
        subscription.status,
        subscription.cycle,
        subscription.trial_end,
        subscription.current_period_end,
        auto_renew=subscription.auto_renew,
    )


def reminder_instants(
    status: Status,
    cycle: Cycle,
    trial_end: datetime | None,
    period_end: datetime,
    *,
    auto_renew: bool,
) -> tuple[datetime | None, datetime | None]:
    """When a subscription in this state sends its `trial_ending` and `annual_renewal` (or,
    with auto-renew off, `subscription_ending`) reminders (None: it sends none)."""
    if not auto_renew:
        return None, period_end - ENDING_BEFORE
    trialing = status is Status.TRIALING and trial_end is not None
    trial_at = trial_end - TRIAL_ENDING_BEFORE if trialing and trial_end is not None else None
    annual = cycle is Cycle.ANNUAL and status is not Status.TRIALING
    return trial_at, period_end - ANNUAL_RENEWAL_BEFORE if annual else None


def schedule_card(method: PaymentMethod) -> None:
    """Set the card's expiry reminder instant (sent only while a subscription uses it)."""
    method.expiry_reminder_at = (
        valid_until(method.exp_month, method.exp_year) - CARD_EXPIRING_BEFORE
    )


@dataclass(frozen=True, slots=True)
class _Reminder:
    """One kind of reminder: its column, which rows may send it, and what it says."""

    column: Any
    model: Any
    eligible: Callable[[], ColumnElement[bool]]
    compose: Callable[[Any, datetime], tuple[uuid.UUID, Kind, str, dict[str, str]]]


def _live_subscription(account_id: Any) -> ColumnElement[bool]:
    return exists().where(Subscription.account_id == account_id, Subscription.ended_at.is_(None))


def _trial(row: Subscription, due: datetime) -> tuple[uuid.UUID, Kind, str, dict[str, str]]:
    assert row.trial_end is not None
    data = {"subscription_id": str(row.id), "trial_end": _iso(row.trial_end)}
    return row.account_id, Kind.TRIAL_ENDING, f"trial_ending:{row.id}", data


def _renewal(row: Subscription, due: datetime) -> tuple[uuid.UUID, Kind, str, dict[str, str]]:
    renews = row.current_period_end
    if not row.auto_renew:
        ends = {"subscription_id": str(row.id), "plan": row.plan.value, "ends_at": _iso(renews)}
        key = f"subscription_ending:{row.id}:{_iso(renews)}"
        return row.account_id, Kind.SUBSCRIPTION_ENDING, key, ends
    data = {"subscription_id": str(row.id), "renews_at": _iso(renews)}
    return row.account_id, Kind.ANNUAL_RENEWAL, f"annual_renewal:{row.id}:{_iso(renews)}", data


def _card(row: PaymentMethod, due: datetime) -> tuple[uuid.UUID, Kind, str, dict[str, str]]:
    expires = valid_until(row.exp_month, row.exp_year)
    key = f"card_expiring:{row.id}:{row.exp_year}-{row.exp_month:02d}"
    return (
        row.account_id,
        Kind.CARD_EXPIRING,
        key,
        {"last4": row.last4, "expires_at": _iso(expires)},
    )


_REMINDERS = (
    _Reminder(
        Subscription.trial_reminder_at,
        Subscription,
        lambda: Subscription.ended_at.is_(None) & (Subscription.status == Status.TRIALING),
        _trial,
    ),
    _Reminder(
        Subscription.renewal_reminder_at,
        Subscription,
        lambda: Subscription.ended_at.is_(None),
        _renewal,
    ),
    _Reminder(
        PaymentMethod.expiry_reminder_at,
        PaymentMethod,
        lambda: _live_subscription(PaymentMethod.account_id),
        _card,
    ),
)


def next_due(session: Session, after: datetime | None = None) -> datetime | None:
    """The earliest instant later than `after` at which a reminder falls due (indexed
    columns)."""
    moments = []
    for reminder in _REMINDERS:
        query = select(func.min(reminder.column)).where(reminder.eligible())
        if after is not None:
            query = query.where(reminder.column > after)
        moments.append(session.scalar(query))
    found = [moment for moment in moments if moment is not None]
    return min(found) if found else None


def send_due(sessions: sessionmaker[Session], now: datetime) -> int:
    """Send every reminder due at or before `now`, each stamped with its own due instant,
    each row in its own transaction; a row another process holds is skipped (it sends it),
    one that fails is logged and left for the next run. Returns how many were sent."""
    sent = 0
    for reminder in _REMINDERS:
        with session_scope(sessions) as session:
            due_ids = list(
                session.scalars(
                    select(reminder.model.id)
                    .where(reminder.column <= now, reminder.eligible())
                    .order_by(reminder.column, reminder.model.id)
                )
            )
        for row_id in due_ids:
            try:
                with session_scope(sessions) as session:
                    sent += _send_one(session, reminder, row_id, now)
            except Exception:
                log.exception("reminder on %s %s failed; next run retries", reminder.model, row_id)
    return sent


def _send_one(session: Session, reminder: _Reminder, row_id: uuid.UUID, now: datetime) -> int:
    row = session.scalar(
        select(reminder.model)
        .where(reminder.model.id == row_id, reminder.column <= now, reminder.eligible())
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return 0  # sent meanwhile, no longer due, or another process holds it
    due: datetime = getattr(row, reminder.column.key)
    account_id, kind, dedupe_key, data = reminder.compose(row, due)
    setattr(row, reminder.column.key, None)
    if already_sent(session, dedupe_key):
        return 0
    notify(session, account_id, kind, due, data, dedupe_key=dedupe_key)
    return 1


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
