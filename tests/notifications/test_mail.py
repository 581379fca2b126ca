"""Notification mail (issue 5, "Mail"): the outbox delivered by SMTP, with retries and no
duplicates, against a real SMTP server (aiosmtpd) started on 127.0.0.1 by each test."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from kasacare.accounts.models import Account
from kasacare.catalog.schemas import Catalog
from kasacare.config import ConfigurationError, load_settings
from kasacare.context import AppContext
from kasacare.jobs import deliver_mail, run_due
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import session_scope
from kasacare.notifications.mail import (
    FIRST_RETRY,
    MAX_ATTEMPTS,
    InvalidSmtpUrl,
    SmtpConfig,
    SmtpSender,
    compose,
    deliver_pending,
    parse_smtp_url,
    retry_delay,
)
from kasacare.notifications.models import Kind, Notification
from kasacare.notifications.wording import Facts
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for
from tests.mailbox import verify

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
MAY_10 = datetime(2026, 5, 10, tzinfo=UTC)
OWNER = "owner@example.com"


# --- a real SMTP server ----------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler: records every message offered (accepted or not) and accepts it
    unless `refuse` holds an SMTP reply such as "451 4.3.0 Try again later", or its subject
    starts with `refuse_subject` (refused with "554 5.7.1 Message refused")."""

    def __init__(self) -> None:
        self.refuse: str | None = None
        self.refuse_subject: str | None = None
        self.offered: list[EmailMessage] = []
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.offered.append(message)
        if self.refuse is not None:
            return self.refuse
        if self.refuse_subject and str(message["Subject"]).startswith(self.refuse_subject):
            return "554 5.7.1 Message refused"
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def sender(self) -> SmtpSender:
        return SmtpSender(SmtpConfig("127.0.0.1", self.port, timeout=5))

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def subjects(self) -> list[str]:
        return sorted(str(message["Subject"]) for _, message in self.inbox.received)

    def message_ids(self) -> list[str]:
        return sorted(str(message["Message-ID"]) for _, message in self.inbox.received)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


# --- notifications made through the app ------------------------------------------------------


def _trial_then_cancel(client: TestClient, clock: FixedClock, context: AppContext) -> None:
    """trial_ending (28 Apr), then the first charge (1 May: payment_received) and a cancel
    on 10 May: refund_issued, subscription_ended and history_erased."""
    clock.set(APRIL_1)
    _, headers = owner(client, OWNER)
    verify(client, context, OWNER)  # issue 13: mail goes only to a verified address
    card_on_file(client, headers)
    subscribe(client, headers, [register_camera(client, headers, "KC120")["id"]], trial=True)
    run_due(context, MAY_10)
    clock.set(MAY_10)
    response = client.delete("/v1/subscription", headers=token_for(client, OWNER))
    assert response.status_code == 200, response.text


def _outbox(context: AppContext) -> list[tuple[Notification, str]]:
    with session_scope(context.sessions) as session:
        rows = session.execute(
            select(Notification, Account.email)
            .join(Account, Account.id == Notification.account_id)
            .order_by(Notification.created_at, Notification.id)
        ).all()
        return [(notification, address) for notification, address in rows]


def _ids(context: AppContext) -> list[str]:
    return sorted(f"<{n.id}@kasacare>" for n, _ in _outbox(context))


EXPECTED_SUBJECTS = sorted(
    [
        "Your Kasa Care trial ends on 1 May 2026",
        # Issue 14 item 3: the first charge after the trial, Plus monthly $3.99, has a receipt.
        "Your Kasa Care receipt for $3.99",
        # Plus monthly $3.99 for [1 May, 1 Jun): cancelled 10 May, 22 of 31 days unused:
        # 399 x 22/31 = 283.16 -> 283
        "Your Kasa Care refund of $2.83",
        "Your Kasa Care Plus subscription has ended",
        "Video history of KC120 cam was erased",
    ]
)


def test_each_notification_is_mailed_once_to_the_owner_and_marked_delivered(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    _trial_then_cancel(client, clock, context)
    assert deliver_pending(context.sessions, smtp.sender, MAY_10) == 5
    assert smtp.subjects() == EXPECTED_SUBJECTS
    assert smtp.message_ids() == _ids(context)  # each notification exactly once
    for recipients, message in smtp.inbox.received:
        assert recipients == [OWNER]
        assert message["To"] == OWNER
        assert message["From"] == "Kasa Care <no-reply@kasacare.local>"
        assert message.get_content_type() in ("text/plain", "multipart/mixed")
    assert all(n.delivered_at == MAY_10 for n, _ in _outbox(context))
    trial = next(m for _, m in smtp.inbox.received if "trial" in str(m["Subject"]))
    body = trial.get_content()
    assert (
        "Your free trial of Kasa Care Plus (monthly) for KC120 cam ends on 1 May 2026 at 00:00 UTC."
        in body
    )


def test_rerunning_delivery_sends_nothing_more(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    _trial_then_cancel(client, clock, context)
    assert deliver_pending(context.sessions, smtp.sender, MAY_10) == 5
    assert deliver_pending(context.sessions, smtp.sender, MAY_10 + timedelta(days=1)) == 0
    assert len(smtp.inbox.offered) == 5


def test_small_batches_deliver_the_whole_outbox_oldest_first(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    _trial_then_cancel(client, clock, context)
    assert deliver_pending(context.sessions, smtp.sender, MAY_10, batch=1) == 5
    assert smtp.inbox.received[0][1]["Subject"] == "Your Kasa Care trial ends on 1 May 2026"
    assert smtp.message_ids() == _ids(context)


def test_workers_delivering_at_once_never_send_one_notification_twice(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    _trial_then_cancel(client, clock, context)
    start = threading.Barrier(3)
    counts: list[int] = []

    def worker() -> None:
        start.wait()
        counts.append(deliver_pending(context.sessions, smtp.sender, MAY_10, batch=1))

    workers = [threading.Thread(target=worker) for _ in range(3)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    assert sum(counts) == 5
    assert len(smtp.inbox.offered) == 5
    assert smtp.message_ids() == _ids(context)


@pytest.mark.parametrize(
    "reply", ["451 4.3.0 Try again later", "554 5.7.1 Message refused"], ids=["4xx", "5xx"]
)
def test_a_refused_mail_stays_pending_and_a_later_run_delivers_it_once(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer, reply: str
) -> None:
    _trial_then_cancel(client, clock, context)
    smtp.inbox.refuse = reply
    assert deliver_pending(context.sessions, smtp.sender, MAY_10) == 0
    assert len(smtp.inbox.offered) == 5  # the server is up: each mail is tried
    for notification, _ in _outbox(context):
        assert notification.delivered_at is None
        assert notification.delivery_attempts == 1
        assert notification.next_attempt_at == MAY_10 + FIRST_RETRY
    # Backoff: no new try before the first retry is due.
    assert deliver_pending(context.sessions, smtp.sender, MAY_10 + timedelta(minutes=4)) == 0
    assert len(smtp.inbox.offered) == 5

    smtp.inbox.refuse = None
    assert deliver_pending(context.sessions, smtp.sender, MAY_10 + FIRST_RETRY) == 5
    assert deliver_pending(context.sessions, smtp.sender, MAY_10 + timedelta(hours=1)) == 0
    assert smtp.subjects() == EXPECTED_SUBJECTS
    assert smtp.message_ids() == _ids(context)  # once each, no duplicates


def test_m5_a_mail_that_is_always_refused_does_not_stop_the_others(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    """Issue 10 item 3: each mail row is its own job; one the server always refuses is
    counted and retried with back-off while every other mail is delivered in the same runs."""
    _trial_then_cancel(client, clock, context)
    smtp.inbox.refuse_subject = "Your Kasa Care refund"
    assert deliver_pending(context.sessions, smtp.sender, MAY_10) == 4
    refund = "Your Kasa Care refund of $2.83"
    assert smtp.subjects() == sorted(s for s in EXPECTED_SUBJECTS if s != refund)
    now = MAY_10
    for attempt in range(1, 4):
        now += retry_delay(attempt)
        assert deliver_pending(context.sessions, smtp.sender, now) == 0
    pending = [n for n, _ in _outbox(context) if n.delivered_at is None]
    assert [(n.kind, n.delivery_attempts) for n in pending] == [(Kind.REFUND_ISSUED, 4)]
    assert len(smtp.inbox.received) == 4  # nothing delivered twice meanwhile


def test_the_message_id_is_stable_across_retries(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    _trial_then_cancel(client, clock, context)
    smtp.inbox.refuse = "451 4.3.0 Try again later"
    deliver_pending(context.sessions, smtp.sender, MAY_10)
    smtp.inbox.refuse = None
    deliver_pending(context.sessions, smtp.sender, MAY_10 + FIRST_RETRY)
    refused = {str(m["Subject"]): (m["Message-ID"], m["Date"]) for m in smtp.inbox.offered[:5]}
    accepted = {str(m["Subject"]): (m["Message-ID"], m["Date"]) for _, m in smtp.inbox.received}
    assert refused == accepted
    ids = {str(n.id) for n, _ in _outbox(context)}
    assert {
        message_id.strip("<>").removesuffix("@kasacare") for message_id, _ in accepted.values()
    } == ids


def test_a_stopped_server_leaves_everything_pending_and_a_later_run_delivers_once(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    _trial_then_cancel(client, clock, context)
    smtp.stop()
    assert deliver_pending(context.sessions, smtp.sender, MAY_10) == 0
    # The run stops at the first failure: only the oldest counts an attempt.
    attempts = [n.delivery_attempts for n, _ in _outbox(context)]
    assert attempts == [1, 0, 0, 0, 0]
    assert all(n.delivered_at is None for n, _ in _outbox(context))

    smtp.start()
    # The four untouched go now; the oldest waits for its retry.
    assert deliver_pending(context.sessions, smtp.sender, MAY_10 + timedelta(minutes=1)) == 4
    assert deliver_pending(context.sessions, smtp.sender, MAY_10 + FIRST_RETRY) == 1
    assert deliver_pending(context.sessions, smtp.sender, MAY_10 + timedelta(days=1)) == 0
    assert smtp.subjects() == EXPECTED_SUBJECTS
    assert smtp.message_ids() == _ids(context)


def test_after_8_failed_attempts_delivery_gives_up_and_logs_an_error(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client, OWNER)
    verify(client, context, OWNER)
    card_on_file(client, headers)
    subscribe(client, headers, [register_camera(client, headers)["id"]], trial=True)
    run_due(context, datetime(2026, 4, 29, tzinfo=UTC))  # trial_ending only
    smtp.inbox.refuse = "451 4.3.0 Try again later"
    caplog.set_level(logging.WARNING, logger="kasacare.mail")
    now = datetime(2026, 4, 29, tzinfo=UTC)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_pending(context.sessions, smtp.sender, now) == 0
        assert len(smtp.inbox.offered) == attempt
        if attempt < MAX_ATTEMPTS:
            now += retry_delay(attempt)  # 5, 10, 20, 40, 80, 160, 320 minutes
    ((notification, _),) = _outbox(context)
    assert notification.delivery_attempts == MAX_ATTEMPTS
    assert notification.next_attempt_at is None
    assert notification.delivered_at is None  # still listed in the app
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"after {MAX_ATTEMPTS} attempts; giving up" in errors[0].getMessage()

    smtp.inbox.refuse = None
    assert deliver_pending(context.sessions, smtp.sender, now + timedelta(days=30)) == 0
    assert len(smtp.inbox.offered) == MAX_ATTEMPTS


def test_every_kind_the_app_produces_is_mailed_to_its_owner(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    clock.set(APRIL_1)
    # Annual plan on a card valid through May 2026: annual_renewal, card_expiring.
    _, a = owner(client, "annual@example.com")
    verify(client, context, "annual@example.com")
    card_on_file(client, a, exp_month=5, exp_year=2026)
    subscribe(client, a, [register_camera(client, a)["id"]], cycle="annual")
    # A trial on a card that declines: trial_ending, payment_failed, subscription_ended.
    _, b = owner(client, "declined@example.com")
    verify(client, context, "declined@example.com")
    card_on_file(client, b, "4000000000000002")
    subscribe(client, b, [register_camera(client, b, "KC105")["id"]], trial=True)
    # Plus for two cameras, one removed, then cancelled: credit_added, refund_issued, ...
    _, c = owner(client, "plus@example.com")
    verify(client, context, "plus@example.com")
    card_on_file(client, c)
    cameras = [register_camera(client, c)["id"] for _ in range(2)]
    subscribe(client, c, cameras)
    clock.set(APRIL_1 + timedelta(days=25))
    c = token_for(client, "plus@example.com")
    assert client.delete(f"/v1/subscription/cameras/{cameras[1]}", headers=c).status_code == 200
    assert client.delete("/v1/subscription", headers=c).status_code == 200
    # Plus with auto-renew off (issue 14 item 5): subscription_ending, then it ends.
    _, d = owner(client, "ending@example.com")
    verify(client, context, "ending@example.com")
    card_on_file(client, d)
    subscribe(client, d, [register_camera(client, d)["id"]])
    off = client.post("/v1/subscription/auto-renew", json={"enabled": False}, headers=d)
    assert off.status_code == 200, off.text
    until = datetime(2027, 3, 26, tzinfo=UTC)
    run_due(context, until)

    assert deliver_pending(context.sessions, smtp.sender, until) == len(_outbox(context))
    by_id = {str(m["Message-ID"]): (to, m) for to, m in smtp.inbox.received}
    assert len(by_id) == len(smtp.inbox.received) == len(_outbox(context))
    for notification, address in _outbox(context):
        to, message = by_id[f"<{notification.id}@kasacare>"]
        assert to == [address]
        assert message["Subject"]
    assert {n.kind for n, _ in _outbox(context)} == set(Kind)
    subjects = smtp.subjects()
    # Removal on 26 Apr, 5 of 30 days unused: credit 2 x 399 x 5/30 = 133, charge for one
    # seat 399 x 5/30 = 66.5 -> 66; net credit 133 - 66 = 67.
    assert "$0.67 credit added to your Kasa Care balance" in subjects
    assert "Your card ending in 4242 expires soon" in subjects
    assert "Your Kasa Care plan renews on 1 April 2027" in subjects
    assert "We couldn't take your Kasa Care payment of $3.99" in subjects
    assert "Your Kasa Care Plus subscription ends on 26 May 2026" in subjects


def test_mail_is_off_without_an_smtp_url_and_on_with_one(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    _trial_then_cancel(client, clock, context)
    assert context.settings.smtp_url is None
    assert deliver_mail(context, MAY_10) == 0  # the embedded default: they stay in the app
    assert smtp.inbox.offered == []
    assert all(n.delivered_at is None for n, _ in _outbox(context))

    configured = dataclasses.replace(
        context,
        settings=context.settings.model_copy(
            update={"smtp_url": SecretStr(smtp.url), "mail_from": "Kasa <mail@example.com>"}
        ),
    )
    assert deliver_mail(configured, MAY_10) == 5
    assert {str(m["From"]) for _, m in smtp.inbox.received} == {"Kasa <mail@example.com>"}
    assert deliver_mail(configured, MAY_10) == 0


# --- configuration ---------------------------------------------------------------------------


def test_smtp_url_with_login_and_starttls() -> None:
    config = parse_smtp_url("smtp://mailer:p%40ss@mail.example.com:587?starttls=1&timeout=20")
    assert (config.host, config.port, config.security) == ("mail.example.com", 587, "starttls")
    assert (config.username, config.password, config.timeout) == ("mailer", "p@ss", 20.0)
    assert "p@ss" not in repr(config)
    assert parse_smtp_url("smtp://localhost").port == 25
    assert (parse_smtp_url("smtps://mail.example.com").port, "tls") == (465, "tls")


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com",
        "smtp://",
        "smtp://mail.example.com:99999",
        "smtp://mailer@mail.example.com",
        "smtp://mail.example.com?tls=1",
        "smtp://mail.example.com?starttls=maybe",
        "smtps://mail.example.com?starttls=1",
        "smtp://mail.example.com?timeout=0",
    ],
)
def test_a_bad_smtp_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidSmtpUrl):
        parse_smtp_url(url)


def test_a_bad_smtp_url_stops_the_start_naming_the_variable_never_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KASACARE_SMTP_URL", "smtp://mailer:s3cret@mail.example.com?tls=1")
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    line = str(error.value)
    assert line.startswith("KASACARE_SMTP_URL: ")
    assert "\n" not in line
    assert "s3cret" not in line


def test_mail_settings_default_to_off_and_no_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KASACARE_SMTP_URL", raising=False)
    monkeypatch.delenv("KASACARE_MAIL_FROM", raising=False)
    settings = load_settings()
    assert settings.smtp_url is None
    assert settings.mail_from == "Kasa Care <no-reply@kasacare.local>"
    monkeypatch.setenv("KASACARE_SMTP_URL", "smtp://mail.example.com:587?starttls=1")
    assert load_settings().smtp_url is not None
    monkeypatch.setenv("KASACARE_MAIL_FROM", "nobody")
    with pytest.raises(ConfigurationError, match=r"^KASACARE_MAIL_FROM: "):
        load_settings()


# --- wording ---------------------------------------------------------------------------------

CREATED = datetime(2026, 5, 10, 9, 30, tzinfo=UTC)
USD_399 = {"amount": 399, "currency": "USD"}


@pytest.mark.parametrize(
    ("kind", "data", "subject", "in_body"),
    [
        (
            Kind.TRIAL_ENDING,
            {"subscription_id": "s", "trial_end": "2026-05-01T00:00:00Z"},
            "Your Kasa Care trial ends on 1 May 2026",
            "cancel in the Kasa app before then",
        ),
        (
            Kind.ANNUAL_RENEWAL,
            {"subscription_id": "s", "renews_at": "2027-04-01T00:00:00Z"},
            "Your Kasa Care plan renews on 1 April 2027",
            "renews on 1 April 2027 at 00:00 UTC",
        ),
        (
            Kind.CARD_EXPIRING,
            {"last4": "4242", "expires_at": "2026-06-01T00:00:00Z"},
            "Your card ending in 4242 expires soon",
            "valid through May 2026",
        ),
        (
            Kind.PAYMENT_FAILED,
            {
                "subscription_id": "s",
                "invoice_number": "INV-000007",
                "amount": USD_399,
                "next_retry_at": "2026-05-02T00:00:00Z",
            },
            "We couldn't take your Kasa Care payment of $3.99",
            "We will try again on 2 May 2026 at 00:00 UTC",
        ),
        (
            Kind.PAYMENT_FAILED,
            {
                "subscription_id": "s",
                "invoice_number": "INV-000007",
                "amount": USD_399,
                "next_retry_at": None,
            },
            "We couldn't take your Kasa Care payment of $3.99",
            "That was our last try",
        ),
        (
            Kind.REFUND_ISSUED,
            {
                "credit_note_id": "n",
                "number": "CN-000002",
                "amount": {"amount": 133, "currency": "GBP"},
            },
            "Your Kasa Care refund of £1.33",
            "(credit note CN-000002)",
        ),
        (
            Kind.CREDIT_ADDED,
            {
                "credit_note_id": "n",
                "number": "CN-000001",
                "amount": {"amount": 67, "currency": "EUR"},
            },
            "€0.67 credit added to your Kasa Care balance",
            "never expires",
        ),
        (
            Kind.SUBSCRIPTION_ENDED,
            {"subscription_id": "s", "plan": "premium", "reason": "dunning"},
            "Your Kasa Care Premium subscription has ended",
            "so it ended on 10 May 2026",
        ),
        (
            Kind.SUBSCRIPTION_ENDED,
            {"legacy_subscription_id": "l", "plan": "legacy-plus", "reason": "migrated"},
            "Your Kasa Care (legacy) Plus subscription has ended",
            "when you moved to the new plans",
        ),
        (
            Kind.HISTORY_ERASED,
            {"cameras": [{"camera_id": "c1", "before": "2026-05-08T09:30:00Z"}]},
            "Video history of Front door was erased",
            "- Front door: video recorded before 8 May 2026 at 09:30 UTC",
        ),
    ],
)
def test_each_kind_reads_as_a_mail_for_a_person(
    catalog: Catalog, kind: Kind, data: dict[str, Any], subject: str, in_body: str
) -> None:
    plan = data.get("plan")
    names = {key: p.name for key, p in catalog.plans.items()}
    names.update({key: p.name for key, p in catalog.legacy_plans.items()})
    facts = Facts(plan=names[plan] if plan else None, camera_names={"c1": "Front door"})
    got_subject, body = compose(kind, data, CREATED, facts)
    assert got_subject == subject
    assert in_body in body
    assert "{" not in body
