"""Charges that cannot be lost (SPEC M4, issue 10): a payment attempt is committed before
every gateway charge, the invoice it pays commits with its success, and a charge that paid
nothing is refunded, at once or by the reconciler.

Everything runs on the real sandbox gateway. Faults are injected as in
`tests/subscriptions/test_crash_safety.py`: a subclass of the sandbox that crashes around its
own charge, or a failure of the service's commit; nothing of ours is replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.accounts.models import Account
from kasacare.app import create_app
from kasacare.billing.charging import Planning
from kasacare.billing.models import AttemptStatus, Invoice, PaymentAttempt
from kasacare.billing.reconciler import RECONCILE_AFTER, reconcile_payments
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import session_scope
from kasacare.kit.money import Money
from kasacare.payments.gateway import Charge, PaymentGateway
from kasacare.payments.sandbox import SandboxGateway
from kasacare.subscriptions.service import Subscriptions
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for
from tests.subscriptions.test_crash_safety import (
    CrashingGateway,
    commit_fails_once_with_an_invoice,
    sandbox_charges,
    sandbox_refunds,
    with_gateway,
)

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)  # April has 30 days
APRIL_11 = APRIL_1 + timedelta(days=10)


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def attempts(context: AppContext) -> list[PaymentAttempt]:
    with context.sessions() as session:
        return list(
            session.scalars(
                select(PaymentAttempt).order_by(PaymentAttempt.created_at, PaymentAttempt.id)
            )
        )


class ChangeDuringCharge(SandboxGateway):
    """The real sandbox; once, right after a charge commits at the gateway, `during` runs:
    a concurrent change of the account while the service waits for the gateway's answer."""

    def __init__(self, real: PaymentGateway, during: Callable[[], None]) -> None:
        assert isinstance(real, SandboxGateway)
        super().__init__(real.engine)
        self.during: Callable[[], None] | None = during

    def charge(self, *, token: str, amount: Money, idempotency_key: str, now: datetime) -> Charge:
        charge = super().charge(
            token=token, amount=amount, idempotency_key=idempotency_key, now=now
        )
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return charge


def test_m4_each_charge_has_an_attempt_committed_with_its_key_and_invoice(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    first, second = (register_camera(client, headers)["id"] for _ in range(2))
    subscribe(client, headers, [first])  # 399
    clock.set(APRIL_11)
    headers = token_for(client, "owner@example.com")
    added = client.post("/v1/subscription/cameras", json={"camera_id": second}, headers=headers)
    assert added.status_code == 200, added.text
    # C2: credit 399 x 20/30 = 266 for the old seat, charge 798 x 20/30 = 532: net 266.
    assert added.json()["last_change"]["charge_now"] == usd(266)

    made = attempts(context)
    assert [(a.purpose.value, a.status, a.amount) for a in made] == [
        ("purchase", AttemptStatus.SUCCEEDED, 399),
        ("purchase", AttemptStatus.SUCCEEDED, 266),
    ]
    # The gateway key is derived from the attempt: every gateway charge maps to one.
    charges = sandbox_charges(context)
    assert sorted((key, amount) for _, key, amount, _ in charges) == sorted(
        (f"charge:{a.id}", a.amount) for a in made
    )
    assert {a.gateway_charge_id for a in made} == {charge_id for charge_id, *_ in charges}
    with context.sessions() as session:
        paid = {a.id: session.get(Invoice, a.invoice_id) for a in made}
    assert [(invoice.number, invoice.charged) for invoice in paid.values() if invoice] == [
        ("INV-000001", 399),
        ("INV-000002", 266),
    ]


def test_m4_a_declined_charge_leaves_a_declined_attempt_and_nothing_else(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers, "4000000000000341")  # attaches, then declines every charge
    camera = register_camera(client, headers)["id"]
    response = client.post(
        "/v1/subscription",
        json={"plan": "plus", "cycle": "monthly", "camera_ids": [camera]},
        headers=headers,
    )
    assert response.status_code == 402
    assert response.json()["code"] == "card_declined"
    ((status, decline, amount),) = [(a.status, a.decline_code, a.amount) for a in attempts(context)]
    assert (status, decline, amount) == (AttemptStatus.DECLINED, "generic_decline", 399)
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []
    assert sandbox_charges(context) == []


def test_m4_c2_a_charge_the_change_no_longer_needs_is_refunded_at_once(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    """While the gateway charges for an added camera, the owner removes another one (a
    Plus credit): the amount the change needs is no longer what was charged. The change is
    refused (409 billing_changed), the charge refunded at once; the retry pays from credit."""
    clock.set(APRIL_1)
    account, headers = owner(client)
    card_on_file(client, headers)
    a, b, c = (register_camera(client, headers)["id"] for _ in range(3))
    subscribe(client, headers, [a, c])  # 2 x 399 = 798
    clock.set(APRIL_11)
    headers = token_for(client, "owner@example.com")

    def owner_removes_a() -> None:
        with session_scope(context.sessions) as session:
            owner_account = session.get(Account, uuid.UUID(account["id"]))
            assert owner_account is not None
            Subscriptions(
                session, context.catalog, Planning(), clock.now(), owner_account
            ).remove_camera(uuid.UUID(a))

    gateway = ChangeDuringCharge(context.gateway, owner_removes_a)
    with TestClient(create_app(with_gateway(context, gateway))) as racing:
        response = racing.post("/v1/subscription/cameras", json={"camera_id": b}, headers=headers)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "billing_changed"

    # Adding b to {a, c} needed 1197 x 20/30 - 798 x 20/30 = 798 - 532 = 266 from the card.
    (_, (charge_id, key, amount, _)) = sorted(sandbox_charges(context), key=lambda c: c[2])[::-1]
    reversed_attempt = attempts(context)[-1]
    assert (key, amount) == (f"charge:{reversed_attempt.id}", 266)
    assert reversed_attempt.status is AttemptStatus.REVERSED
    ((_, refunded_charge, refund_key, refund_amount, _),) = sandbox_refunds(context)
    assert (refunded_charge, refund_key, refund_amount) == (
        charge_id,
        f"reversal:{reversed_attempt.id}",
        266,
    )
    # Removing a from {a, c} credited 798 x 20/30 - 399 x 20/30 = 266 (C3); b is not in.
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(266)
    assert client.get("/v1/subscription", headers=headers).json()["camera_ids"] == [c]

    # The retry: {c} + b needs 798 x 20/30 - 399 x 20/30 = 266, all of it from the credit.
    retried = client.post("/v1/subscription/cameras", json={"camera_id": b}, headers=headers)
    assert retried.status_code == 200, retried.text
    assert (
        retried.json()["last_change"]["charge_now"],
        retried.json()["last_change"]["credit_used"],
    ) == (usd(0), usd(266))
    assert len(sandbox_charges(context)) == 2  # the first 798 and the reversed 266


def test_m4_the_reconciler_refunds_a_charge_whose_commit_was_lost(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    with (
        commit_fails_once_with_an_invoice(context),
        TestClient(create_app(context), raise_server_exceptions=False) as crashy,
    ):
        response = crashy.post(
            "/v1/subscription",
            json={"plan": "plus", "cycle": "monthly", "camera_ids": [camera]},
            headers=headers,
        )
    assert response.status_code == 500

    # The gateway took 399 under the attempt's key; our commit was lost with the invoice.
    ((charge_id, key, amount, _),) = sandbox_charges(context)
    (attempt,) = attempts(context)
    assert (key, amount, attempt.status) == (f"charge:{attempt.id}", 399, AttemptStatus.PENDING)
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []

    # Not yet: a use case may still be between its attempt and its commit.
    assert reconcile_payments(context.sessions, context.gateway, APRIL_1) == 0
    settled = reconcile_payments(context.sessions, context.gateway, APRIL_1 + RECONCILE_AFTER)
    assert settled == 1
    ((_, refunded_charge, refund_key, refund_amount, _),) = sandbox_refunds(context)
    assert (refunded_charge, refund_key, refund_amount) == (
        charge_id,
        f"reversal:{attempt.id}",
        399,
    )
    (attempt,) = attempts(context)
    assert (attempt.status, attempt.invoice_id) == (AttemptStatus.REVERSED, None)
    # Charges - refunds at the gateway = invoices paid by card - refunds recorded = 0.
    assert context.gateway.get_charge(charge_id).refundable == Money(0, "USD")
    # Nothing more to do, and the owner can subscribe again, charged once.
    assert reconcile_payments(context.sessions, context.gateway, APRIL_1 + timedelta(days=1)) == 0
    subscribe(client, headers, [camera])
    assert len(sandbox_charges(context)) == 2


def test_m4_the_reconciler_abandons_an_attempt_that_never_reached_the_gateway(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    crashing = CrashingGateway(context.gateway, "charge", "before")
    with TestClient(
        create_app(with_gateway(context, crashing)), raise_server_exceptions=False
    ) as crashy:
        response = crashy.post(
            "/v1/subscription",
            json={"plan": "plus", "cycle": "monthly", "camera_ids": [camera]},
            headers=headers,
        )
    assert response.status_code == 500
    assert sandbox_charges(context) == []
    assert [a.status for a in attempts(context)] == [AttemptStatus.PENDING]
    assert reconcile_payments(context.sessions, context.gateway, APRIL_1 + RECONCILE_AFTER) == 1
    assert [a.status for a in attempts(context)] == [AttemptStatus.ABANDONED]
    assert sandbox_refunds(context) == []
