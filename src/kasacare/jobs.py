"""Jobs: everything that falls due with time, and the work that follows a commit.

`run_due(context, until)` runs each due reminder, renewal or retry at its own due instant,
then the refund outbox and the payment reconciler. Every job row runs in its own
transaction: a failure is caught, logged with the row's id and counted, and the row waits for
its back-off (`job_retry_at`) while the others go on. The test clock's advance calls it; the
in-process `JobTimer` (embedded default) and `kasacare worker` call it with the system time,
and run the sweeper, the media job and mail on timers of their own.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import partial
from typing import Protocol, cast

from sqlalchemy import update
from sqlalchemy.orm import Session

from kasacare.accounts.export import delete_expired, run_exports
from kasacare.accounts.mails import deliver_account_mails, log_account_mails
from kasacare.billing.charging import Declined, Payer, Planning, run_charged
from kasacare.billing.outbox import carry_out_refunds
from kasacare.billing.reconciler import reconcile_payments
from kasacare.catalog.schemas import Catalog
from kasacare.clips.direct_upload import sweep_uploads
from kasacare.clips.media_job import MediaResult, probe_new_clips
from kasacare.clips.sweeper import sweep
from kasacare.context import AppContext
from kasacare.devices.broker import parse_mqtt_url
from kasacare.devices.broker_sync import sync_accounts
from kasacare.devices.delivery import deliver_commands as deliver_device_commands
from kasacare.devices.entitlement_push import push_due as push_due_entitlements
from kasacare.devices.events import record_event
from kasacare.devices.mqtt import EventListener
from kasacare.kit.backoff import backoff
from kasacare.kit.db import session_scope
from kasacare.kit.failpoints import failpoint
from kasacare.legacy import renewal as legacy_renewal
from kasacare.legacy.models import LegacyStatus, LegacySubscription
from kasacare.legacy.repository import LegacyRepository
from kasacare.notifications import reminders
from kasacare.notifications.mail import deliver_pending, smtp_sender
from kasacare.payments.errors import CardDeclined
from kasacare.renewals.batch import BatchOutcome, renew_batch
from kasacare.subscriptions import renewal
from kasacare.subscriptions.models import Subscription

log = logging.getLogger("kasacare.jobs")


class _Step(Protocol):
    """One renewal step (`renewals.engine.advance` of a kind): False when `claim` found the
    row's account held by another transaction."""

    def __call__(
        self,
        session: Session,
        catalog: Catalog,
        payer: Payer,
        now: datetime,
        row_id: uuid.UUID,
        /,
        *,
        claim: bool = False,
    ) -> bool: ...


class Outcome(Enum):
    RAN = "ran"
    FAILED = "failed"  # logged, counted, waits for its back-off
    HELD = "held"  # another worker holds the account: it runs the row


_Renewable = type[Subscription] | type[LegacySubscription]


def run_due(context: AppContext, until: datetime) -> int:
    """Run every job due at or before `until`, earliest first, each at its own due instant:
    reminders, renewals and dunning retries (new plans and legacy), then the refund outbox,
    the reconciler, and cameras told of free plans that ended. Returns how many renewal and
    reminder steps ran."""
    ran = 0
    done_through: datetime | None = None  # every instant up to here was run
    while True:
        with session_scope(context.sessions) as session:
            candidates = [
                renewal.next_due(session, done_through),
                legacy_renewal.next_due(session, done_through),
                reminders.next_due(session, done_through),
            ]
        due = min((moment for moment in candidates if moment is not None), default=None)
        if due is None or due > until:
            break
        done_through = due
        step = reminders.send_due(context.sessions, due)
        outcomes: list[Outcome] = []
        for due_at, run_page in (
            (renewal.due_at, _renew_page),
            (legacy_renewal.due_at, _legacy_page),
        ):
            last: uuid.UUID | None = None
            while True:  # every row due at `due`, a page at a time in id order
                with session_scope(context.sessions) as session:
                    page = due_at(session, due, after_id=last)
                if not page:
                    break
                outcomes += run_page(context, due, page)
                last = page[-1]
        carry_out_refunds(context.sessions, context.gateway, due)
        # Time only moves forward: what failed at `due` waits for its back-off (a later
        # instant of this run, or the next run); what another worker holds, it runs.
        ran += step + outcomes.count(Outcome.RAN)
    carry_out_refunds(context.sessions, context.gateway, until)
    reconcile_payments(context.sessions, context.gateway, until)
    # Issue 12 item 4: a free plan's end is a change no transaction makes; cameras are told.
    push_due_entitlements(context.sessions, context.catalog, until)
    return ran


def _renew_page(context: AppContext, due: datetime, page: list[uuid.UUID]) -> list[Outcome]:
    """A page of due subscriptions: renewed together where they can be
    (`renewals.batch`), the rest one at a time, each in its own transaction."""
    try:
        batch = renew_batch(
            context.sessions,
            context.gateway,
            context.catalog,
            due,
            max(due, context.clock.now()),
            page,
        )
    except Exception:
        log.exception("renewal batch failed before any charge; its rows go one at a time")
        batch = BatchOutcome(one_by_one=[(row_id, None) for row_id in page])
    outcomes = [Outcome.RAN] * len(batch.renewed) + [Outcome.HELD] * len(batch.held)
    for row_id, declined in batch.one_by_one:
        outcomes.append(
            _isolated(context, due, Subscription, row_id, renewal.advance, declined=declined)
        )
    return outcomes


def _legacy_page(context: AppContext, due: datetime, page: list[uuid.UUID]) -> list[Outcome]:
    return [
        _isolated(context, due, LegacySubscription, row_id, legacy_renewal.advance)
        for row_id in page
    ]


def _isolated(
    context: AppContext,
    due: datetime,
    model: _Renewable,
    row_id: uuid.UUID,
    step: _Step,
    *,
    declined: CardDeclined | None = None,
) -> Outcome:
    """One renewal step in its own transaction(s). Its plan pass claims the account (SKIP
    LOCKED), so workers split the due rows instead of waiting for each other; a failure is
    logged and counted, and the row waits `backoff(failures)` from `due`. With `declined`
    (a batch's charge that the gateway declined), the step runs once with that decline as
    its charge's answer: M5 without a second gateway call."""
    session = context.sessions()
    try:
        if declined is not None:
            ran = step(session, context.catalog, Declined(declined), due, row_id)
        else:
            ran = run_charged(
                session,
                context.gateway,
                due,
                lambda s, payer: step(
                    s, context.catalog, payer, due, row_id, claim=isinstance(payer, Planning)
                ),
                recorded_at=max(due, context.clock.now()),
            )
        if not ran:
            session.rollback()
            return Outcome.HELD
        session.execute(
            update(model)
            .where(model.id == row_id, model.job_failures > 0)
            .values(job_failures=0, job_retry_at=None)
        )
        session.commit()
        failpoint("commit.after")
        return Outcome.RAN
    except Exception:
        session.rollback()
        _count_failure(context, due, model, row_id)
        return Outcome.FAILED
    finally:
        session.close()


def _count_failure(
    context: AppContext,
    due: datetime,
    model: _Renewable,
    row_id: uuid.UUID,
) -> None:
    with session_scope(context.sessions) as session:
        row = cast(
            Subscription | LegacySubscription | None,
            session.get(model, row_id, with_for_update=True),
        )
        if row is None:
            return
        row.job_failures += 1
        row.job_retry_at = due + backoff(row.job_failures)
        failures, retry_at = row.job_failures, row.job_retry_at
    log.exception(
        "%s %s: job step failed (failure %d; %s)",
        model.__tablename__,
        row_id,
        failures,
        f"next try at {retry_at.isoformat()}",
    )


def sweep_clips(context: AppContext, now: datetime) -> None:
    """The sweeper's run (V2): delete the bytes of clips that expired or were erased, then
    the objects of direct uploads never completed (`clips.direct_upload`)."""
    try:
        sweep(context.sessions, context.storage, context.catalog, now)
    finally:  # one failing does not keep the other from running
        sweep_uploads(context.sessions, context.storage, now)


def probe_media(context: AppContext, now: datetime) -> MediaResult:
    """The media job's run (issue 11): new clips' duration, codec, size and poster frame
    (`clips.media_job`). It reads the clock itself at each record (`now` starts the run)."""
    del now  # each clip's record is checked at its own instant (`clips.media_job`)
    return probe_new_clips(context.sessions, context.storage, context.clock.now)


def build_exports(context: AppContext, now: datetime) -> int:
    """The export job (GDPR Art. 20, `accounts.export`): each asked-for export built in its
    own transaction (a failure waits its back-off), then the files past their 24 hours
    deleted. Runs on the media job's timer, before mail so the link goes out in the same
    tick."""
    return run_exports(context.sessions, context.storage, now)


def deliver_mail(context: AppContext, now: datetime) -> int:
    """Deliver the account mail (links, security notices: `accounts.mails`) and the
    notification outbox by SMTP when `KASACARE_SMTP_URL` is set. Without it notifications
    stay in the app and account mail waits, except with the test clock, where account mail
    is written to the log. Returns how many went."""
    settings = context.settings
    sender = smtp_sender(settings)
    if sender is None:
        if settings.test_clock:
            return log_account_mails(context.sessions, now, public_url=settings.public_url)
        return 0
    sent = deliver_account_mails(
        context.sessions, sender, now, public_url=settings.public_url, mail_from=settings.mail_from
    )
    return sent + deliver_pending(
        context.sessions,
        sender,
        now,
        mail_from=settings.mail_from,
        catalog=context.catalog,
        settings=settings,
    )


def after_commit(context: AppContext, now: datetime) -> None:
    """Work that follows a committed change: refunds it decided (M4 outbox), the bytes of
    clips it erased (V3) and the files of exports it ended (an account's deletion). The
    change has happened whatever happens here: a failure is logged and the jobs carry the
    work out later, so the caller still gets its answer."""
    failpoint("commit.after")
    try:
        carry_out_refunds(context.sessions, context.gateway, now)
    except Exception:
        log.exception("refund outbox failed after commit; the outbox job will retry it")
    try:
        sweep(context.sessions, context.storage, context.catalog, now)
    except Exception:
        log.exception("clip sweep failed after commit; the sweeper will retry it")
    try:  # exports ended by an account's deletion (`accounts.export.forget`)
        delete_expired(context.sessions, context.storage, now)
    except Exception:
        log.exception("export files not deleted after commit; the export job will retry")


def deliver_commands(context: AppContext, now: datetime) -> int:
    """The device command outbox to the MQTT broker (`devices.delivery`), when this
    service has one; without it cameras long-poll the same outbox."""
    if context.publisher is None:
        return 0
    return deliver_device_commands(context.sessions, context.publisher, now)


def sync_broker(context: AppContext, now: datetime) -> int:
    """Cameras' broker accounts granted and revoked as bindings changed
    (`devices.broker_sync`), when this service has a broker."""
    if context.broker_control is None:
        return 0
    return sync_accounts(context.sessions, context.broker_control, now)


def _record_event(context: AppContext, serial: str, event: dict[str, object]) -> None:
    with session_scope(context.sessions) as session:
        record_event(session, serial, event, context.clock.now())


def event_listener(context: AppContext) -> EventListener | None:
    """The cameras' events (`online`, `recording_started`) recorded as they arrive, in the
    processes that run the jobs, when the service has a broker."""
    if context.settings.mqtt_url is None:
        return None
    target = parse_mqtt_url(context.settings.mqtt_url.get_secret_value())
    return EventListener(target, partial(_record_event, context))


def retry_on_card_change(context: AppContext, now: datetime, account_id: uuid.UUID) -> None:
    """M2: a replaced card pays the account's past_due invoices at once, new plan and legacy
    alike, each in its own transaction after the card's commit; a failure here leaves the
    retry schedule as it was (and is logged)."""

    def new_plan(s: Session, payer: Payer) -> object:
        return renewal.retry_on_card_change(s, context.catalog, payer, now, account_id)

    steps: list[Callable[[Session, Payer], object]] = [new_plan]
    with session_scope(context.sessions) as session:
        past_due = [
            legacy.id
            for legacy in LegacyRepository(session).live(account_id)
            if legacy.status is LegacyStatus.PAST_DUE
        ]
    for legacy_id in past_due:
        steps.append(partial(_legacy_retry, context.catalog, now, legacy_id))
    for run in steps:
        session = context.sessions()
        try:
            run_charged(session, context.gateway, now, run)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("account %s: retry after the card change failed", account_id)
        finally:
            session.close()


def _legacy_retry(
    catalog: Catalog, now: datetime, legacy_id: uuid.UUID, session: Session, payer: Payer
) -> object:
    return legacy_renewal.retry_on_card_change(session, catalog, payer, now, legacy_id)


class JobTimer:
    """The jobs of one process on timers of their own, each in a daemon thread: `run_due`
    every `interval` seconds, the sweeper every `sweep_interval`, the media job every
    `media_interval`, mail every `mail_interval` (0 turns one off). A failing run is logged
    and the next tick tries again."""

    def __init__(
        self,
        context: AppContext,
        interval: float,
        sweep_interval: float = 300,
        mail_interval: float = 30,
        media_interval: float = 30,
        commands_interval: float = 1,
    ) -> None:
        self._context = context
        self._stop = threading.Event()
        self._events = event_listener(context) if commands_interval > 0 else None
        loops: list[tuple[str, float, Callable[[AppContext, datetime], object]]] = [
            ("due", interval, run_due),
            ("sweep", sweep_interval, sweep_clips),
            ("mail", mail_interval, deliver_mail),
            ("media", media_interval, probe_media),
            ("export", media_interval, build_exports),
            ("commands", commands_interval if context.publisher else 0, deliver_commands),
            ("broker", commands_interval if context.broker_control else 0, sync_broker),
        ]
        self._threads = [
            threading.Thread(
                target=self._loop, args=(name, every, job), name=f"kasacare-{name}", daemon=True
            )
            for name, every, job in loops
            if every > 0
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        if self._events:
            self._events.start()

    def stop(self) -> None:
        if self._events:
            self._events.stop()
        if self._context.publisher:
            self._context.publisher.close()
        if self._context.broker_control:
            self._context.broker_control.close()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self, name: str, every: float, job: Callable[[AppContext, datetime], object]) -> None:
        while not self._stop.wait(every):
            try:
                job(self._context, self._context.clock.now())
            except Exception:
                log.exception("%s job run failed; retrying at the next tick", name)


def job_timer(context: AppContext) -> JobTimer:
    """The timers the configuration asks for (`KASACARE_JOBS_INTERVAL_SECONDS`,
    `KASACARE_SWEEP_INTERVAL_SECONDS`, `KASACARE_MAIL_INTERVAL_SECONDS`,
    `KASACARE_MEDIA_INTERVAL_SECONDS`, `KASACARE_COMMANDS_INTERVAL_SECONDS`). Under the test
    clock, whose advance runs the time-driven jobs, only the device channel keeps its timer
    (commands, broker accounts, events): it carries what happens now, not what falls due."""
    settings = context.settings

    def timed(seconds: float) -> float:
        return 0 if settings.test_clock else seconds  # 0 turns a timer off

    return JobTimer(
        context,
        timed(settings.jobs_interval_seconds),
        sweep_interval=timed(settings.sweep_interval_seconds),
        mail_interval=timed(settings.mail_interval_seconds),
        media_interval=timed(settings.media_interval_seconds),
        commands_interval=settings.commands_interval_seconds,
    )


__all__ = [
    "JobTimer",
    "after_commit",
    "build_exports",
    "deliver_commands",
    "deliver_mail",
    "job_timer",
    "probe_media",
    "retry_on_card_change",
    "run_due",
    "sweep_clips",
    "sync_broker",
]
