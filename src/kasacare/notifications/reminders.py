"""Reminders that fall due with time (SPEC section 2): `trial_ending` 3 days before a trial
ends, `annual_renewal` 7 days before an annual renewal, `card_expiring` 30 days before the card
on file expires while a subscription uses it. Each is sent once (a dedupe key) at its own
due instant, so the test clock's advance can run them in time order."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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
CARD_EXPIRING_BEFORE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Reminder:
    due: datetime
    account_id: uuid.UUID
    kind: Kind
    dedupe_key: str
    data: dict[str, str]


def pending(session: Session) -> list[Reminder]:
    """Every reminder not sent yet for live subscriptions, with its due instant."""
    reminders = []
    live = session.scalars(select(Subscription).where(Subscription.ended_at.is_(None))).all()
    for subscription in live:
        if subscription.status is Status.TRIALING and subscription.trial_end is not None:
            reminders.append(
                Reminder(
                    subscription.trial_end - TRIAL_ENDING_BEFORE,
                    subscription.account_id,
                    Kind.TRIAL_ENDING,
                    f"trial_ending:{subscription.id}",
                    {
                        "subscription_id": str(subscription.id),
                        "trial_end": _iso(subscription.trial_end),
                    },
                )
            )
        if subscription.cycle is Cycle.ANNUAL and subscription.status is not Status.TRIALING:
            renews = subscription.current_period_end
            reminders.append(
                Reminder(
                    renews - ANNUAL_RENEWAL_BEFORE,
                    subscription.account_id,
                    Kind.ANNUAL_RENEWAL,
                    f"annual_renewal:{subscription.id}:{_iso(renews)}",
                    {"subscription_id": str(subscription.id), "renews_at": _iso(renews)},
                )
            )
    accounts = {subscription.account_id for subscription in live}
    if accounts:
        for method in session.scalars(
            select(PaymentMethod).where(PaymentMethod.account_id.in_(accounts))
        ):
            expires = valid_until(method.exp_month, method.exp_year)
            reminders.append(
                Reminder(
                    expires - CARD_EXPIRING_BEFORE,
                    method.account_id,
                    Kind.CARD_EXPIRING,
                    f"card_expiring:{method.id}:{method.exp_year}-{method.exp_month:02d}",
                    {"last4": method.last4, "expires_at": _iso(expires)},
                )
            )
    return sorted(
        (r for r in reminders if not already_sent(session, r.dedupe_key)), key=lambda r: r.due
    )


def next_due(session: Session) -> datetime | None:
    upcoming = pending(session)
    return upcoming[0].due if upcoming else None


def send_due(sessions: sessionmaker[Session], now: datetime) -> int:
    """Send every reminder due at or before `now`, each stamped with its own due instant and
    in its own transaction: one that another process sent meanwhile (its dedupe key is
    taken) or that fails is skipped, logged, and never stops the others."""
    with session_scope(sessions) as session:
        due = [reminder for reminder in pending(session) if reminder.due <= now]
    sent = 0
    for reminder in due:
        try:
            with session_scope(sessions) as session:
                notify(
                    session,
                    reminder.account_id,
                    reminder.kind,
                    reminder.due,
                    reminder.data,
                    dedupe_key=reminder.dedupe_key,
                )
            sent += 1
        except IntegrityError:
            pass  # another process sent it first: once is enough
        except Exception:
            log.exception("reminder %s failed; retried at the next run", reminder.dedupe_key)
    return sent


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
