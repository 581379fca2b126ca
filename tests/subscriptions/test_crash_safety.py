"""A crash between the gateway and our commit, then a rerun, moves money once (SPEC M4).

The gateway is an outside system that commits on its own: a charge can happen and our
transaction still be lost, and a refund decided in a committed transaction can be left
undone. A rerun of the job must then reuse the key derived from what is paid for
(`renewal:<subscription>:<period_start>`, `refund:<credit_note>:<charge>`) so the real
sandbox answers the first charge or refund instead of moving money again.

Failures are injected into the real sandbox gateway (a subclass that crashes just before or
just after its own charge or refund, which do all the money moving) or at the service's
commit; nothing of ours is replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from kasacare.app import create_app
from kasacare.billing.models import (
    CardPayment,
    Invoice,
    OutboxStatus,
    PaymentAttempt,
    RefundOutbox,
)
from kasacare.billing.outbox import carry_out_refunds
from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from kasacare.kit.money import Money
from kasacare.payments.errors import CardDeclined
from kasacare.payments.gateway import Charge, ChargeRequest, PaymentGateway, Refund
from kasacare.payments.models import SandboxCharge, SandboxRefund
from kasacare.payments.sandbox import SandboxGateway
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)  # April has 30 days
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)

Operation = Literal["charge", "refund"]
When = Literal["before", "after"]


class InjectedCrash(Exception):
    """The injected failure: as if the process died at this point."""


class CrashingGateway(SandboxGateway):
    """The real sandbox gateway keeping its books where the suite's does (the same engine), with
    a crash injected into one operation `times` times (once by default): `before` the gateway
    acts, or `after` it has acted and committed (its answer is lost to us). A batch of charges
    (`charge_many`) crashes as one charge would. Everything else is the sandbox's own."""

    def __init__(
        self, real: PaymentGateway, operation: Operation, when: When, *, times: int = 1
    ) -> None:
        assert isinstance(real, SandboxGateway)
        super().__init__(real.engine)
        self.operation = operation
        self.when = when
        self.left = times

    @property
    def crashed(self) -> bool:
        return self.left == 0

    def _crash(self, operation: Operation, when: When) -> None:
        if self.left and (operation, when) == (self.operation, self.when):
            self.left -= 1
            raise InjectedCrash(f"crash {when} the gateway's {operation}")

    def charge(self, *, token: str, amount: Money, idempotency_key: str, now: datetime) -> Charge:
        self._crash("charge", "before")
        charge = super().charge(
            token=token, amount=amount, idempotency_key=idempotency_key, now=now
        )
        self._crash("charge", "after")
        return charge

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        self._crash("charge", "before")
        answers = super().charge_many(requests, now=now)
        self._crash("charge", "after")
        return answers

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        self._crash("refund", "before")
        refund = super().refund(
            charge_id=charge_id, amount=amount, idempotency_key=idempotency_key, now=now
        )
        self._crash("refund", "after")
        return refund


def with_gateway(context: AppContext, gateway: PaymentGateway) -> AppContext:
    """The suite's context with another gateway; the shared context stays as it is."""
    return dataclasses.replace(context, gateway=gateway)


@contextmanager
def commit_fails_once_with_an_invoice(context: AppContext, *, times: int = 1) -> Iterator[None]:
    """The first commit (`times` first commits) of a transaction that wrote an invoice fails
    (after the charge); an invoice written one by one (flush) or in a batch (bulk INSERT)."""
    state = {"left": times}

    def after_flush(session: Session, _context: object) -> None:
        if any(isinstance(item, Invoice) for item in session.new):
            session.info["wrote_invoice"] = True

    def on_execute(execution: ORMExecuteState) -> None:
        if execution.is_insert and getattr(execution.statement, "table", None) is Invoice.__table__:
            execution.session.info["wrote_invoice"] = True

    def before_commit(session: Session) -> None:
        if session.info.pop("wrote_invoice", False) and state["left"]:
            state["left"] -= 1
            raise InjectedCrash("crash at the service's commit")

    event.listen(context.sessions, "after_flush", after_flush)
    event.listen(context.sessions, "do_orm_execute", on_execute)
    event.listen(context.sessions, "before_commit", before_commit)
    try:
        yield
    finally:
        event.remove(context.sessions, "before_commit", before_commit)
        event.remove(context.sessions, "do_orm_execute", on_execute)
        event.remove(context.sessions, "after_flush", after_flush)
    assert not state["left"], "the injected commit failure did not fire as often as asked"


def sandbox_of(context: AppContext) -> SandboxGateway:
    gateway = context.gateway
    assert isinstance(gateway, SandboxGateway)
    return gateway


def sandbox_charges(context: AppContext) -> list[tuple[str, str, int, str]]:
    """Every charge in the sandbox's books: (id, key, amount, currency)."""
    query = select(
        SandboxCharge.id,
        SandboxCharge.idempotency_key,
        SandboxCharge.amount,
        SandboxCharge.currency,
    )
    with sandbox_of(context).engine.connect() as connection:
        return [(str(a), str(b), int(c), str(d)) for a, b, c, d in connection.execute(query)]


def sandbox_refunds(context: AppContext) -> list[tuple[str, str, str, int, str]]:
    """Every refund in the sandbox's books: (id, charge id, key, amount, currency)."""
    query = select(
        SandboxRefund.id,
        SandboxRefund.charge_id,
        SandboxRefund.idempotency_key,
        SandboxRefund.amount,
        SandboxRefund.currency,
    )
    with sandbox_of(context).engine.connect() as connection:
        return [
            (str(a), str(b), str(c), int(d), str(e)) for a, b, c, d, e in connection.execute(query)
        ]


def attempts(context: AppContext) -> list[tuple[str, str, int]]:
    """Every payment attempt: (gateway key, status, amount)."""
    with context.sessions() as session:
        return [
            (a.idempotency_key, a.status.value, a.amount)
            for a in session.scalars(select(PaymentAttempt).order_by(PaymentAttempt.created_at))
        ]


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


@pytest.mark.parametrize("crash", ["gateway_answer_lost", "commit_fails"])
def test_m4_renewal_batch_crash_after_the_gateway_charged_is_taken_up_by_its_key_at_once(
    client: TestClient, clock: FixedClock, context: AppContext, crash: str
) -> None:
    """The renewal batch (`renewals.batch`) loses the gateway's answer or its commit: the same
    job run hands the row to the one-at-a-time path, which reuses the pending attempt and its
    key, so the sandbox answers the first charge: renewed once, charged once."""
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    trial = subscribe(client, headers, [register_camera(client, headers)["id"]], trial=True)
    if crash == "gateway_answer_lost":
        crashing = CrashingGateway(context.gateway, "charge", "after")
        run_due(with_gateway(context, crashing), MAY_1)
        assert crashing.crashed
    else:
        with commit_fails_once_with_an_invoice(context):
            run_due(context, MAY_1)

    ((charge_id, key, amount, _),) = sandbox_charges(context)
    assert (key, amount) == (f"renewal:{trial['id']}:2026-05-01T00:00:00+00:00", 399)
    assert attempts(context) == [(key, "succeeded", 399)]
    with context.sessions() as session:
        payments = session.scalars(select(CardPayment)).all()
        assert [(p.gateway_charge_id, p.amount) for p in payments] == [(charge_id, 399)]
        (invoice,) = session.scalars(select(Invoice)).all()
        # M8: the lost batch's number was rolled back with it: the numbers stay gapless.
        assert (invoice.number, invoice.charged) == ("INV-000001", 399)


@pytest.mark.parametrize("crash", ["gateway_answer_lost", "commit_fails"])
def test_m4_renewal_crash_after_the_gateway_charged_then_rerun_charges_once(
    client: TestClient, clock: FixedClock, context: AppContext, crash: str
) -> None:
    """Both the batch and the one-at-a-time run crash after the charge: the row waits its
    back-off, and the rerun reuses the pending attempt and its key."""
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    trial = subscribe(client, headers, [camera], trial=True)
    # 30 x 24 h from April 1: the trial ends May 1, the first charge (T4).
    assert trial["trial_end"] == "2026-05-01T00:00:00Z"
    run_due(context, MAY_1 - timedelta(seconds=1))  # whatever falls due before (reminders)
    assert sandbox_charges(context) == []

    # The job step fails; the job run goes on (isolated jobs) and the row waits its back-off.
    if crash == "gateway_answer_lost":
        crashing = CrashingGateway(context.gateway, "charge", "after", times=2)
        run_due(with_gateway(context, crashing), MAY_1)
        assert crashing.crashed
    else:
        with commit_fails_once_with_an_invoice(context, times=2):
            run_due(context, MAY_1)

    # The gateway committed the charge on its own; our transaction was lost with the crash.
    (charged,) = sandbox_charges(context)
    charge_id, key, amount, currency = charged
    assert key.startswith(f"renewal:{trial['id']}:2026-05-01T00:00:00")
    assert (amount, currency) == (399, "USD")
    headers = token_for(client, "owner@example.com")
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []
    assert client.get("/v1/subscription", headers=headers).json()["status"] == "trialing"

    # The payment attempt committed before the charge is still pending: it names the key.
    assert attempts(context) == [(key, "pending", 399)]
    # The rerun, after the step's first back-off (5 minutes), reuses the pending attempt and
    # its key: the sandbox answers the first charge.
    run_due(context, MAY_1)
    assert len(sandbox_charges(context)) == 1 and attempts(context)[0][1] == "pending"
    run_due(context, MAY_1 + timedelta(minutes=5))

    assert attempts(context) == [(key, "succeeded", 399)]

    assert sandbox_charges(context) == [(charge_id, key, 399, "USD")]
    clock.set(MAY_1 + timedelta(hours=1))
    headers = token_for(client, "owner@example.com")
    (invoice,) = client.get("/v1/invoices", headers=headers).json()["items"]
    # M8: the lost attempt's number was rolled back with it: the numbers stay gapless.
    assert (invoice["number"], invoice["status"], invoice["total"], invoice["charged"]) == (
        "INV-000001",
        "paid",
        usd(399),
        usd(399),
    )
    assert [(line["period_start"], line["period_end"]) for line in invoice["lines"]] == [
        ("2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z")
    ]
    with context.sessions() as session:
        payments = session.scalars(select(CardPayment)).all()
        assert [(p.gateway_charge_id, p.amount) for p in payments] == [(charge_id, 399)]
    live = client.get("/v1/subscription", headers=headers).json()
    assert (live["status"], live["current_period_start"], live["current_period_end"]) == (
        "active",
        "2026-05-01T00:00:00Z",
        "2026-06-01T00:00:00Z",
    )
    # And once more: nothing is due, nothing is charged.
    run_due(context, MAY_1 + timedelta(hours=1))
    assert sandbox_charges(context) == [(charge_id, key, 399, "USD")]
    assert len(client.get("/v1/invoices", headers=headers).json()["items"]) == 1


@pytest.mark.parametrize("when", ["before", "after"])
def test_m4_c1_refund_crash_after_the_cancel_commit_then_rerun_refunds_once(
    client: TestClient, clock: FixedClock, context: AppContext, when: When
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    subscribe(client, headers, [camera])  # Plus monthly: 399 charged April 1
    ((charge_id, _, _, _),) = sandbox_charges(context)
    clock.advance(timedelta(days=10))
    headers = token_for(client, "owner@example.com")

    # The cancel commits, then the refund crashes: before the gateway refunds (`before`), or
    # after it refunded and before the outbox row is marked done (`after`).
    crashing = CrashingGateway(context.gateway, "refund", when)
    with TestClient(
        create_app(with_gateway(context, crashing)), raise_server_exceptions=False
    ) as crashy:
        crashy.delete("/v1/subscription", headers=headers)
    assert crashing.crashed

    # The cancel itself was committed: the subscription is gone and the refund is decided.
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    (note,) = client.get("/v1/credit-notes", headers=headers).json()["items"]
    # 399 x 20/30 = 266.0
    assert (note["number"], note["kind"], note["total"]) == ("CN-000001", "refund", usd(266))
    expected_key = f"refund:{note['id']}:{charge_id}"
    with context.sessions() as session:
        (row,) = session.scalars(select(RefundOutbox)).all()
        assert (row.status, row.idempotency_key, row.amount) == (
            OutboxStatus.PENDING,
            expected_key,
            266,
        )
    assert len(sandbox_refunds(context)) == (1 if when == "after" else 0)

    # The failed row waits its back-off (5 minutes after the failure), then the rerun
    # carries it out with its key: one refund at the gateway.
    assert carry_out_refunds(context.sessions, context.gateway, clock.now()) == 0
    clock.advance(timedelta(minutes=5))
    assert carry_out_refunds(context.sessions, context.gateway, clock.now()) == 1

    (refund,) = sandbox_refunds(context)
    refund_id = refund[0]
    assert refund[1:] == (charge_id, expected_key, 266, "USD")
    assert context.gateway.get_charge(charge_id).amount_refunded == Money(266, "USD")
    with context.sessions() as session:
        (row,) = session.scalars(select(RefundOutbox)).all()
        assert (row.status, row.gateway_refund_id, row.done_at) == (
            OutboxStatus.DONE,
            refund_id,
            clock.now(),
        )
        (payment,) = session.scalars(select(CardPayment)).all()
        assert (payment.amount, payment.refunded) == (399, 266)
    # And once more: nothing is pending, nothing is refunded.
    assert carry_out_refunds(context.sessions, context.gateway, clock.now()) == 0
    assert len(sandbox_refunds(context)) == 1
