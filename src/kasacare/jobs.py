"""In-process jobs: everything that falls due with time, run in time order.

`run_due(context, until)` runs each due reminder, renewal or retry at its own due instant,
one subscription per transaction, then carries out the refund outbox. The test clock's advance
calls it; in the embedded default a timer thread calls it with the system time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.billing.outbox import carry_out_refunds
from kasacare.catalog.schemas import Catalog
from kasacare.clips.sweeper import sweep
from kasacare.kit.db import session_scope
from kasacare.kit.http import AppContext
from kasacare.legacy import renewal as legacy_renewal
from kasacare.legacy.models import LegacyStatus
from kasacare.legacy.repository import LegacyRepository
from kasacare.notifications import reminders
from kasacare.notifications.mail import deliver_pending, smtp_sender
from kasacare.payments.gateway import PaymentGateway
from kasacare.subscriptions import renewal

log = logging.getLogger("kasacare.jobs")


def run_due(context: AppContext, until: datetime) -> int:
    """Run every job due at or before `until`, earliest first, each at its own due instant:
    reminders, renewals and dunning retries, then the refund outbox. Returns how many ran."""
    ran = 0
    while True:
        with session_scope(context.sessions) as session:
            candidates = [
                renewal.next_due(session),
                legacy_renewal.next_due(session),
                reminders.next_due(session),
            ]
        due = min((moment for moment in candidates if moment is not None), default=None)
        if due is None or due > until:
            break
        with session_scope(context.sessions) as session:
            step = reminders.send_due(session, due)
        with session_scope(context.sessions) as session:
            subscription_ids = renewal.due_at(session, due)
        for subscription_id in subscription_ids:
            with session_scope(context.sessions) as session:
                renewal.advance(session, context.catalog, context.gateway, due, subscription_id)
            step += 1
        with session_scope(context.sessions) as session:
            legacy_ids = legacy_renewal.due_at(session, due)
        for legacy_id in legacy_ids:
            with session_scope(context.sessions) as session:
                legacy_renewal.advance(session, context.catalog, context.gateway, due, legacy_id)
            step += 1
        carry_out_refunds(context.sessions, context.gateway, due)
        if step == 0:
            break  # what is due is held by another worker; it runs them
        ran += step
    carry_out_refunds(context.sessions, context.gateway, until)
    return ran


def sweep_clips(context: AppContext, now: datetime) -> None:
    """The sweeper's run (V2): delete the bytes of clips that expired or were erased."""
    sweep(context.sessions, context.storage, context.catalog, now)


def deliver_mail(context: AppContext, now: datetime) -> int:
    """Deliver the notification outbox by SMTP when `KASACARE_SMTP_URL` is set; without it
    nothing (the embedded default: notifications stay in the app). Returns how many went."""
    sender = smtp_sender(context.settings)
    if sender is None:
        return 0
    return deliver_pending(
        context.sessions,
        sender,
        now,
        mail_from=context.settings.mail_from,
        catalog=context.catalog,
    )


def retry_on_card_change(
    session: Session,
    catalog: Catalog,
    gateway: PaymentGateway,
    now: datetime,
    account_id: uuid.UUID,
) -> None:
    """M2: a replaced card pays the account's past_due invoices at once, new plan and
    legacy alike; a failure here leaves the retry schedule as it was."""
    renewal.retry_on_card_change(session, catalog, gateway, now, account_id)
    for legacy in LegacyRepository(session).live(account_id, for_update=True):
        if legacy.status is LegacyStatus.PAST_DUE:
            legacy_renewal.retry(session, catalog, gateway, now, legacy, scheduled=False)


class JobTimer:
    """Runs `run_due` with the context's clock every `interval` seconds in a daemon thread,
    and the sweeper every `sweep_interval` seconds (5 minutes by default)."""

    def __init__(self, context: AppContext, interval: float, sweep_interval: float = 300) -> None:
        self._context = context
        self._interval = interval
        self._sweep_interval = sweep_interval
        self._last_sweep = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kasacare-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                run_due(self._context, self._context.clock.now())
                deliver_mail(self._context, self._context.clock.now())
                if self._sweep_interval and (
                    time.monotonic() - self._last_sweep >= self._sweep_interval
                ):
                    self._last_sweep = time.monotonic()
                    sweep_clips(self._context, self._context.clock.now())
            except Exception:
                log.exception("job run failed; retrying at the next tick")
