"""The lock order (`kasacare.billing.locks`: account, then plans, then documents) on a real
PostgreSQL: two use cases on one account, in both orders, wait for each other instead of
deadlocking, and both outcomes are valid (issue 10); a renewal job does not even wait: it
claims accounts (SKIP LOCKED) and comes back to a held one at its next run.

Each test holds the first use case's first locks in a session (the helpers it takes them
with), starts the second use case in a thread, checks that it waits for a lock, then lets
the first finish and commit. A renewal used to lock its subscription, then the account, while
an owner's change locked the account, then the subscription: that pair deadlocked.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, selectinload

from kasacare.accounts.models import Account
from kasacare.billing.charging import Planning
from kasacare.billing.locks import lock_account, lock_legacy, lock_subscription
from kasacare.cameras import service as cameras
from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import session_scope
from kasacare.kit.errors import KasaCareError, NotFound
from kasacare.legacy.models import LegacyEndReason, LegacySubscription
from kasacare.subscriptions import renewal
from kasacare.subscriptions.errors import CameraSubscribed
from kasacare.subscriptions.models import Subscription
from kasacare.subscriptions.service import Subscriptions
from kasacare.support import service as support
from tests.factories import (
    card_on_file,
    import_legacy,
    owner,
    register_camera,
    subscribe,
    token_for,
)

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)  # April has 30 days
APRIL_11 = APRIL_1 + timedelta(days=10)
APRIL_21 = APRIL_1 + timedelta(days=20)
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)  # May has 31 days
MAY_11 = MAY_1 + timedelta(days=10)

WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


@pytest.fixture
def engine(context: AppContext) -> Engine:
    if context.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: there is no lock order")
    return context.engine


def _until_one_waits(engine: Engine) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = int(connection.scalar(WAITING_FOR_A_LOCK) or 0)
        if waiting:
            return waiting
        time.sleep(0.01)
    return 0


def _one_then_other(
    context: AppContext,
    engine: Engine,
    hold: Callable[[Session], Any],
    finish: Callable[[Session, Any], None],
    other: Callable[[], object],
) -> BaseException | None:
    """`hold` takes the first use case's first locks, `other` starts in a thread and must
    wait, `finish` completes the first use case and commits; returns what `other` raised."""
    outcome: list[BaseException | None] = []

    def run_other() -> None:
        try:
            other()
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    with context.sessions() as session:
        held = hold(session)
        thread = threading.Thread(target=run_other)
        thread.start()
        assert _until_one_waits(engine) == 1, "the second use case did not wait for a lock"
        assert outcome == []
        finish(session, held)
        session.commit()
    thread.join(60)
    assert not thread.is_alive() and len(outcome) == 1
    return outcome[0]


def _account(session: Session, account_id: str) -> Account:
    account = session.get(Account, uuid.UUID(account_id))
    assert account is not None
    return account


def _plus_with_goodwill(
    client: TestClient, admin_headers: dict[str, str], cameras_: int = 2
) -> tuple[str, list[str]]:
    """A Plus monthly subscriber of April 1 (one of two cameras subscribed or both) with
    2000 of goodwill credit, so renewals and changes are paid from the balance."""
    account, headers = owner(client)
    card_on_file(client, headers)
    ids = [register_camera(client, headers)["id"] for _ in range(2)]
    subscribe(client, headers, ids[:cameras_])
    credit = client.post(
        f"/v1/support/accounts/{account['id']}/goodwill-credits",
        json={"amount": {"amount": 2000, "currency": "USD"}, "note": "race test"},
        headers=admin_headers,
    )
    assert credit.status_code == 201, credit.text
    return account["id"], ids


def _live(context: AppContext, account_id: str) -> Subscription:
    with context.sessions() as session:
        live = session.scalar(
            select(Subscription)
            .options(selectinload(Subscription.seats))
            .where(
                Subscription.account_id == uuid.UUID(account_id), Subscription.ended_at.is_(None)
            )
        )
        assert live is not None
        return live


def _invoices(client: TestClient) -> list[tuple[int, int, int]]:
    """(total, credit used, charged) of each invoice, oldest first."""
    headers = token_for(client, "owner@example.com")
    items = client.get("/v1/invoices", headers=headers).json()["items"]
    return [
        (i["total"]["amount"], i["credit_used"]["amount"], i["charged"]["amount"]) for i in items
    ][::-1]


def test_m5_c3_owner_change_first_then_the_renewal_job_passes_and_comes_back(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    """A job does not wait for an account an owner's change holds: it claims accounts
    (SKIP LOCKED), leaves this one to the next run and goes on with the others."""
    clock.set(APRIL_1)
    account_id, (_, second) = _plus_with_goodwill(client, admin_headers)

    with context.sessions() as session:
        use_cases = Subscriptions(
            session, context.catalog, Planning(), APRIL_21, _account(session, account_id)
        )
        runs: list[int] = []
        job = threading.Thread(target=lambda: runs.append(run_due(context, MAY_1)))
        job.start()
        job.join(30)
        assert runs == [0]  # it did not wait, and ran nothing
        assert _live(context, account_id).current_period_start == APRIL_1
        use_cases.remove_camera(uuid.UUID(second))
        session.commit()
    assert run_due(context, MAY_1) >= 1
    live = _live(context, account_id)
    assert (live.current_period_start, live.job_failures) == (MAY_1, 0)
    clock.set(MAY_1)
    # April: 798 by card. The removal at April 21 credited 798 x 10/30 - 399 x 10/30 =
    # 266 - 133 = 133; May renews the one camera left: 399, from the credit.
    assert _invoices(client) == [(798, 0, 798), (399, 399, 0)]


def test_m5_c3_renewal_first_then_owner_change_waits(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    clock.set(APRIL_1)
    account_id, (first, second) = _plus_with_goodwill(client, admin_headers)
    subscription_id = _live(context, account_id).id

    def hold(session: Session) -> None:
        lock_account(session, uuid.UUID(account_id))  # what `renewal.advance` takes first
        lock_subscription(session, subscription_id)

    def finish(session: Session, _: None) -> None:
        renewal.advance(session, context.catalog, Planning(), MAY_1, subscription_id)

    def owner_removes() -> None:
        with session_scope(context.sessions) as session:
            Subscriptions(
                session, context.catalog, Planning(), MAY_11, _account(session, account_id)
            ).remove_camera(uuid.UUID(second))

    assert _one_then_other(context, engine, hold, finish, owner_removes) is None
    live = _live(context, account_id)
    assert (live.current_period_start, live.camera_ids) == (MAY_1, [uuid.UUID(first)])
    clock.set(MAY_11)
    # May renews both cameras: 798 from the credit. The removal on May 11 (C2, C3) credits
    # both seats 798 x 21/31 = 540.58 -> 541 and charges one 399 x 21/31 = 270.29 -> 270:
    # a credit of 271.
    assert _invoices(client) == [(798, 0, 798), (798, 798, 0)]
    headers = token_for(client, "owner@example.com")
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert [n["total"]["amount"] for n in notes if n["kind"] == "credit"] == [271, 2000]


def _direct_legacy(client: TestClient, admin_headers: dict[str, str]) -> tuple[str, uuid.UUID]:
    account, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    imported = import_legacy(client, admin_headers, account["id"], [camera])
    return account["id"], uuid.UUID(imported["id"])


def _legacy_end(context: AppContext, legacy_id: uuid.UUID) -> LegacyEndReason | None:
    with context.sessions() as session:
        legacy = session.get(LegacySubscription, legacy_id)
        assert legacy is not None
        return legacy.end_reason


def _support_terminates(session: Session, context: AppContext, legacy_id: uuid.UUID) -> None:
    """L6: an agent ends the legacy subscription, moving no money."""
    support.resolve_legacy(
        session,
        context.catalog,
        APRIL_11,
        "support:test",
        legacy_id,
        support.Outcome.TERMINATE,
        None,
        "owner asked",
    )


def test_l4_l6_owner_legacy_cancel_first_then_support_resolve_waits(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    clock.set(APRIL_1)
    account_id, legacy_id = _direct_legacy(client, admin_headers)

    def hold(session: Session) -> Subscriptions:
        return Subscriptions(
            session, context.catalog, Planning(), APRIL_11, _account(session, account_id)
        )

    def finish(session: Session, use_cases: Subscriptions) -> None:
        use_cases.cancel_legacy()

    def support_resolves() -> None:
        with session_scope(context.sessions) as session:
            _support_terminates(session, context, legacy_id)

    error = _one_then_other(context, engine, hold, finish, support_resolves)
    # The owner's cancel won; support finds nothing live to resolve.
    assert isinstance(error, NotFound)
    assert _legacy_end(context, legacy_id) is LegacyEndReason.CANCELLED


def test_l4_l6_support_resolve_first_then_owner_legacy_cancel_waits(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    clock.set(APRIL_1)
    account_id, legacy_id = _direct_legacy(client, admin_headers)

    def hold(session: Session) -> None:
        lock_account(session, uuid.UUID(account_id))  # what `resolve_legacy` takes first
        lock_legacy(session, legacy_id)

    def finish(session: Session, _: None) -> None:
        _support_terminates(session, context, legacy_id)

    def owner_cancels() -> None:
        with session_scope(context.sessions) as session:
            Subscriptions(
                session, context.catalog, Planning(), APRIL_11, _account(session, account_id)
            ).cancel_legacy()

    error = _one_then_other(context, engine, hold, finish, owner_cancels)
    assert isinstance(error, NotFound)  # no live legacy subscription left to cancel
    assert _legacy_end(context, legacy_id) is LegacyEndReason.SUPPORT


def test_c6_unbind_first_then_adding_the_camera_waits(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    clock.set(APRIL_1)
    account_id, (first, second) = _plus_with_goodwill(client, admin_headers, cameras_=1)

    def hold(session: Session) -> Account:
        return lock_account(session, uuid.UUID(account_id))  # what `unbind` takes first

    def finish(session: Session, account: Account) -> None:
        cameras.unbind(session, APRIL_11, account, uuid.UUID(second), confirmed=True)

    def owner_adds() -> None:
        with session_scope(context.sessions) as session:
            Subscriptions(
                session, context.catalog, Planning(), APRIL_11, _account(session, account_id)
            ).add_camera(uuid.UUID(second))

    error = _one_then_other(context, engine, hold, finish, owner_adds)
    assert isinstance(error, NotFound)  # the camera is no longer on the account
    assert _live(context, account_id).camera_ids == [uuid.UUID(first)]


def test_c6_adding_the_camera_first_then_unbind_waits(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    clock.set(APRIL_1)
    account_id, (first, second) = _plus_with_goodwill(client, admin_headers, cameras_=1)

    def hold(session: Session) -> Subscriptions:
        return Subscriptions(
            session, context.catalog, Planning(), APRIL_11, _account(session, account_id)
        )

    def finish(session: Session, use_cases: Subscriptions) -> None:
        use_cases.add_camera(uuid.UUID(second))  # 266, paid from the goodwill credit

    def owner_unbinds() -> None:
        with session_scope(context.sessions) as session:
            cameras.unbind(
                session,
                APRIL_11,
                _account(session, account_id),
                uuid.UUID(second),
                confirmed=True,
            )

    error = _one_then_other(context, engine, hold, finish, owner_unbinds)
    assert isinstance(error, CameraSubscribed)  # C6: covered now, remove it from the plan first
    assert isinstance(error, KasaCareError) and error.status == 409
    assert sorted(_live(context, account_id).camera_ids) == sorted(
        [uuid.UUID(first), uuid.UUID(second)]
    )
