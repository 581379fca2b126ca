"""Isolated jobs (issue 10): every job row runs in its own transaction; one that keeps failing
is logged, counted and retried with back-off, and never stops the others.

The failures are real faults of the outside system: the real sandbox gateway, unreachable
for one card (a subclass that raises before its own charge or refund), nothing of ours
replaced.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.app import create_app
from kasacare.billing.models import CardPayment, OutboxStatus, RefundOutbox
from kasacare.billing.outbox import carry_out_refunds
from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.backoff import backoff
from kasacare.kit.clock import FixedClock
from kasacare.kit.money import Money
from kasacare.payments.errors import CardDeclined
from kasacare.payments.gateway import Charge, ChargeRequest, PaymentGateway, Refund
from kasacare.payments.models import PaymentMethod
from kasacare.payments.sandbox import SandboxGateway
from kasacare.subscriptions.models import Subscription
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)


class GatewayDown(Exception):
    """The gateway cannot be reached (not a decline: nothing is known of the outcome)."""


class UnreachableFor(SandboxGateway):
    """The real sandbox, unreachable for one card's charges and one charge's refunds."""

    def __init__(
        self,
        real: PaymentGateway,
        *,
        token: str | None = None,
        charge_ids: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        assert isinstance(real, SandboxGateway)
        super().__init__(real.engine)
        self.token = token
        self.charge_ids = charge_ids

    def charge(self, *, token: str, amount: Money, idempotency_key: str, now: datetime) -> Charge:
        if token == self.token:
            raise GatewayDown("connection reset")
        return super().charge(token=token, amount=amount, idempotency_key=idempotency_key, now=now)

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        if any(request.token == self.token for request in requests):
            raise GatewayDown("connection reset")  # the whole call: nothing charged
        return super().charge_many(requests, now=now)

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        if charge_id in self.charge_ids:
            raise GatewayDown("connection reset")
        return super().refund(
            charge_id=charge_id, amount=amount, idempotency_key=idempotency_key, now=now
        )


def _plus_subscriber(client: TestClient, email: str) -> tuple[dict[str, str], str]:
    account, headers = owner(client, email)
    card_on_file(client, headers)
    subscribe(client, headers, [register_camera(client, headers)["id"]])  # 399 on April 1
    return headers, account["id"]


def _token_of(context: AppContext, account_id: str) -> str:
    with context.sessions() as session:
        method = session.scalar(
            select(PaymentMethod).where(PaymentMethod.account_id == uuid.UUID(account_id))
        )
        assert method is not None
        return method.gateway_token


def test_m5_a_renewal_that_keeps_failing_does_not_stop_the_others(
    client: TestClient, clock: FixedClock, context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    clock.set(APRIL_1)
    _, broken_id = _plus_subscriber(client, "broken@example.com")
    _, fine_id = _plus_subscriber(client, "fine@example.com")
    down = dataclasses.replace(
        context, gateway=UnreachableFor(context.gateway, token=_token_of(context, broken_id))
    )

    run_due(down, MAY_1)

    with context.sessions() as session:
        rows = {
            str(s.account_id): s
            for s in session.scalars(select(Subscription).where(Subscription.ended_at.is_(None)))
        }
    # The other account renewed at its due instant; the broken one waits its back-off.
    assert rows[fine_id].current_period_start == MAY_1
    broken = rows[broken_id]
    assert (broken.current_period_start, broken.job_failures, broken.job_retry_at) == (
        APRIL_1,
        1,
        MAY_1 + timedelta(minutes=5),
    )
    assert f"subscriptions {broken.id}: job step failed (failure 1" in caplog.text

    # Still unreachable: retried at 5, 10, 20, 40 minutes after each failure (back-off).
    run_due(down, MAY_1 + timedelta(minutes=5 + 10 + 20))
    with context.sessions() as session:
        again = session.get(Subscription, broken.id)
        assert again is not None
        assert (again.job_failures, again.job_retry_at) == (
            4,
            MAY_1 + timedelta(minutes=5 + 10 + 20 + 40),
        )

    # The gateway is back: the next due run renews it, charged once, and the count resets.
    run_due(context, MAY_1 + timedelta(hours=2))
    with context.sessions() as session:
        healed = session.get(Subscription, broken.id)
        assert healed is not None
        assert (healed.current_period_start, healed.job_failures, healed.job_retry_at) == (
            MAY_1,
            0,
            None,
        )
    headers = token_for(client, "broken@example.com")
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    assert [(i["status"], i["charged"]["amount"]) for i in invoices] == [
        ("paid", 399),
        ("paid", 399),
    ]


def test_m4_a_refund_that_keeps_failing_does_not_block_the_others(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, first_id = _plus_subscriber(client, "first@example.com")
    _, second_id = _plus_subscriber(client, "second@example.com")
    # `first` is the charge whose refund keeps failing (ordered by id, as the rows read).
    first, second = sorted((_charge_of(context, first_id), _charge_of(context, second_id)))
    april_11 = APRIL_1 + timedelta(days=10)
    clock.set(april_11)

    # Both cancel while the gateway cannot refund either: the cancels stand, the refund
    # rows stay pending (first in line: the first account's, the oldest).
    down = UnreachableFor(context.gateway, charge_ids={first, second})
    with TestClient(create_app(dataclasses.replace(context, gateway=down))) as cut_off:
        for email in ("first@example.com", "second@example.com"):
            headers = token_for(cut_off, email)
            assert cut_off.delete("/v1/subscription", headers=headers).status_code == 200
    assert _refund_rows(context) == [
        (first, OutboxStatus.PENDING, 1, april_11 + backoff(1)),
        (second, OutboxStatus.PENDING, 1, april_11 + backoff(1)),
    ]

    # The first account's refund keeps failing; the second's goes through behind it.
    still_down = UnreachableFor(context.gateway, charge_ids={first})
    assert carry_out_refunds(context.sessions, still_down, april_11 + backoff(1)) == 1
    assert _refund_rows(context) == [
        (first, OutboxStatus.PENDING, 2, april_11 + backoff(1) + backoff(2)),
        (second, OutboxStatus.DONE, 1, None),
    ]
    # Once the gateway answers again, the back-off over: refunded once, 399 x 20/30 = 266.
    assert carry_out_refunds(context.sessions, context.gateway, april_11 + timedelta(hours=1)) == 1
    assert [row[:2] for row in _refund_rows(context)] == [
        (first, OutboxStatus.DONE),
        (second, OutboxStatus.DONE),
    ]
    assert context.gateway.get_charge(first).amount_refunded == Money(266, "USD")
    assert context.gateway.get_charge(second).amount_refunded == Money(266, "USD")


def _charge_of(context: AppContext, account_id: str) -> str:
    with context.sessions() as session:
        charge_id = session.scalar(
            select(CardPayment.gateway_charge_id).where(
                CardPayment.account_id == uuid.UUID(account_id)
            )
        )
        assert charge_id is not None
        return charge_id


def _refund_rows(
    context: AppContext,
) -> list[tuple[str | None, OutboxStatus, int, datetime | None]]:
    """The refund rows, in the order of their charges' ids."""
    with context.sessions() as session:
        rows = session.scalars(select(RefundOutbox)).all()
        return sorted(
            (row.gateway_charge_id, row.status, row.attempts, row.next_attempt_at) for row in rows
        )


def test_m7_every_renewal_due_at_one_instant_runs_in_one_job_run(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    """More subscriptions due at one instant than one page of rows (100): one run renews
    them all, a page at a time."""
    clock.set(APRIL_1)
    for index in range(101):
        _plus_subscriber(client, f"owner{index}@example.com")
    run_due(context, MAY_1)
    with context.sessions() as session:
        starts = session.scalars(select(Subscription.current_period_start)).all()
    assert sorted(set(starts)) == [MAY_1] and len(starts) == 101
