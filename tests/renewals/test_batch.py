"""Renewals in batches (`kasacare.renewals.batch`, issue 10): a page of due subscriptions is
claimed, charged in one gateway call and applied in one transaction; whatever the batch cannot
do (a balance to spend first, no card, a retry, a decline, a row changed meanwhile) ends
exactly as the one-at-a-time path (`renewals.engine`) would end it (SPEC M4, M5, M7, M8, M9,
T4).

Everything runs through `jobs.run_due` on the real sandbox gateway; where the gateway has to
behave otherwise (count its calls, take no batches, fail, let the owner act while it charges)
a thin subclass or wrapper of the real sandbox does it. Nothing of ours is replaced.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from kasacare.billing.models import (
    AttemptPurpose,
    AttemptStatus,
    BalanceEntry,
    CardPayment,
    Invoice,
    PaymentAttempt,
)
from kasacare.billing.reconciler import RECONCILE_AFTER
from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from kasacare.kit.money import Money
from kasacare.notifications.models import Notification
from kasacare.payments.errors import CardDeclined
from kasacare.payments.gateway import (
    BatchCharging,
    CardDetails,
    Charge,
    ChargeRequest,
    PaymentGateway,
    Refund,
)
from kasacare.payments.sandbox import SandboxGateway
from kasacare.renewals.batch import IN_FLIGHT
from kasacare.subscriptions.models import Status, Subscription
from tests.factories import (
    card_on_file,
    goodwill,
    owner,
    register_camera,
    subscribe,
    token_for,
)
from tests.payments.helpers import DECLINES_AFTER_ATTACH
from tests.subscriptions.test_crash_safety import sandbox_charges, sandbox_refunds, with_gateway
from tests.test_jobs import GatewayDown

MARCH_30 = datetime(2026, 3, 30, tzinfo=UTC)
MARCH_31 = datetime(2026, 3, 31, tzinfo=UTC)
APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)  # April has 30 days
APRIL_21 = datetime(2026, 4, 21, tzinfo=UTC)
APRIL_30 = datetime(2026, 4, 30, tzinfo=UTC)
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)
MAY_30 = datetime(2026, 5, 30, tzinfo=UTC)
MAY_31 = datetime(2026, 5, 31, tzinfo=UTC)
JUNE_1 = datetime(2026, 6, 1, tzinfo=UTC)

PLUS_1 = "Kasa Care Plus x 1 camera, monthly"
PLUS_2 = "Kasa Care Plus x 2 cameras, monthly"


class CountingSandbox(SandboxGateway):
    """The real sandbox, keeping the keys of each `charge_many` call and of each `charge`."""

    def __init__(self, real: PaymentGateway) -> None:
        assert isinstance(real, SandboxGateway)
        super().__init__(real.engine)
        self.batches: list[list[str]] = []
        self.singles: list[str] = []

    def charge(self, *, token: str, amount: Money, idempotency_key: str, now: datetime) -> Charge:
        self.singles.append(idempotency_key)
        return super().charge(token=token, amount=amount, idempotency_key=idempotency_key, now=now)

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        self.batches.append([request.idempotency_key for request in requests])
        return super().charge_many(requests, now=now)


class BatchCallFails(CountingSandbox):
    """The real sandbox whose batch call cannot reach it (nothing charged): the whole page
    then goes the one-at-a-time way, through `charge`."""

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        self.batches.append([request.idempotency_key for request in requests])
        raise GatewayDown("connection reset")


class ChangeDuringBatch(CountingSandbox):
    """The real sandbox; once, right after a batch of charges commits at the gateway,
    `during` runs: the owner acts while the job waits for the gateway's answer."""

    def __init__(self, real: PaymentGateway, during: Callable[[], None]) -> None:
        super().__init__(real)
        self.during: Callable[[], None] | None = during

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        answers = super().charge_many(requests, now=now)
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return answers


class Unbatched:
    """The real sandbox behind the `PaymentGateway` protocol alone (no `charge_many`): a
    gateway that takes one charge a call. The charges of a batch (made from the pool's
    threads) wait for each other at a barrier of `together`: it breaks unless they are in
    flight at the same time."""

    def __init__(self, real: PaymentGateway, together: int) -> None:
        self._real = real
        self.together = threading.Barrier(together, timeout=20)
        #: (key, thread name) of every charge.
        self.calls: list[tuple[str, str]] = []

    def tokenize(
        self, *, number: str, exp_month: int, exp_year: int, cvc: str, now: datetime
    ) -> str:
        return self._real.tokenize(
            number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc, now=now
        )

    def attach(self, token: str, *, now: datetime) -> CardDetails:
        return self._real.attach(token, now=now)

    def describe(self, token: str) -> CardDetails:
        return self._real.describe(token)

    def charge(self, *, token: str, amount: Money, idempotency_key: str, now: datetime) -> Charge:
        thread = threading.current_thread().name
        self.calls.append((idempotency_key, thread))
        if thread.startswith("ThreadPoolExecutor"):
            self.together.wait()
        return self._real.charge(
            token=token, amount=amount, idempotency_key=idempotency_key, now=now
        )

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        return self._real.refund(
            charge_id=charge_id, amount=amount, idempotency_key=idempotency_key, now=now
        )

    def credit_card(
        self, *, token: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        return self._real.credit_card(
            token=token, amount=amount, idempotency_key=idempotency_key, now=now
        )

    def get_charge(self, charge_id: str) -> Charge:
        return self._real.get_charge(charge_id)

    def find_charge(self, idempotency_key: str) -> Charge | None:
        return self._real.find_charge(idempotency_key)


@dataclass(frozen=True, slots=True)
class Subscriber:
    email: str
    account_id: uuid.UUID
    subscription_id: uuid.UUID

    def key(self, period_start: datetime, suffix: str = "") -> str:
        """The renewal attempt's gateway key (M4) for the period starting at `period_start`."""
        return f"renewal:{self.subscription_id}:{period_start.isoformat()}{suffix}"


def _subscriber(
    client: TestClient,
    email: str,
    *,
    cameras: int = 1,
    cycle: str = "monthly",
    trial: bool = False,
    card: bool = True,
) -> Subscriber:
    """A Plus subscriber of the clock's instant (a Visa card on file unless `card` is
    False: then the balance must pay the first period)."""
    account, headers = owner(client, email)
    if card:
        card_on_file(client, headers)
    ids = [register_camera(client, headers)["id"] for _ in range(cameras)]
    body = subscribe(client, headers, ids, cycle=cycle, trial=trial)
    return Subscriber(email, uuid.UUID(account["id"]), uuid.UUID(body["id"]))


def _relabel(text: str, subscriber: Subscriber) -> str:
    return text.replace(str(subscriber.subscription_id), "<sub>")


def _state(context: AppContext, subscriber: Subscriber, since: datetime) -> dict[str, Any]:
    """Everything a renewal step writes for one subscriber from `since` on: the subscription,
    its invoices, payment attempts (keys with the id as `<sub>`), card payments, balance
    entries, notifications, and the gateway's renewal charges."""
    account_id = subscriber.account_id
    with context.sessions() as session:
        row = session.get(Subscription, subscriber.subscription_id)
        assert row is not None
        invoices = session.scalars(
            select(Invoice)
            .options(selectinload(Invoice.lines))
            .where(Invoice.account_id == account_id, Invoice.created_at >= since)
            .order_by(Invoice.number)
        ).all()
        made = session.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.account_id == account_id, PaymentAttempt.created_at >= since)
            .order_by(PaymentAttempt.idempotency_key)
        ).all()
        payments = session.scalars(
            select(CardPayment).where(
                CardPayment.account_id == account_id, CardPayment.created_at >= since
            )
        ).all()
        entries = session.scalars(
            select(BalanceEntry).where(
                BalanceEntry.account_id == account_id, BalanceEntry.created_at >= since
            )
        ).all()
        notices = session.scalars(
            select(Notification.kind).where(
                Notification.account_id == account_id, Notification.created_at >= since
            )
        ).all()
        state: dict[str, Any] = {
            "subscription": (
                row.status,
                row.current_period_start,
                row.current_period_end,
                row.unit_price,
                row.dunning_since,
                row.retries_done,
                row.next_retry_at,
                row.trial_reminder_at,
                row.renewal_reminder_at,
                row.job_failures,
                row.job_retry_at,
            ),
            "invoices": [
                (
                    i.status.value,
                    i.total,
                    i.credit_used,
                    i.charged,
                    i.paid_at,
                    [(li.description, li.amount, li.period_start, li.period_end) for li in i.lines],
                )
                for i in invoices
            ],
            "attempts": [
                (_relabel(a.idempotency_key, subscriber), a.status.value, a.amount, a.decline_code)
                for a in made
            ],
            "card_payments": sorted((p.amount, p.refunded) for p in payments),
            "balance": sorted((e.amount, e.refundable) for e in entries),
            "notifications": sorted(kind.value for kind in notices),
        }
    prefix = f"renewal:{subscriber.subscription_id}:"
    state["gateway"] = sorted(
        (_relabel(key, subscriber), amount)
        for _, key, amount, _ in sandbox_charges(context)
        if key.startswith(prefix)
    )
    return state


def _card_money(context: AppContext, account_id: uuid.UUID) -> tuple[int, int]:
    """Per account, (what the gateway's books hold: charges less refunds, what ours hold:
    invoices paid by card less refunds recorded). Every gateway charge maps to one payment
    attempt by its key, and so to one account."""
    with context.sessions() as session:
        keys = set(
            session.scalars(
                select(PaymentAttempt.idempotency_key).where(
                    PaymentAttempt.account_id == account_id
                )
            )
        )
        ours = sum(
            payment.amount - payment.refunded
            for payment in session.scalars(
                select(CardPayment).where(CardPayment.account_id == account_id)
            )
        )
    charges = {
        charge_id: amount for charge_id, key, amount, _ in sandbox_charges(context) if key in keys
    }
    refunded = sum(
        amount for _, charge_id, _, amount, _ in sandbox_refunds(context) if charge_id in charges
    )
    return sum(charges.values()) - refunded, ours


def _invoice_numbers(context: AppContext) -> list[str]:
    with context.sessions() as session:
        return sorted(session.scalars(select(Invoice.number)))


# A page due at once


def test_m4_m7_m8_t4_a_page_due_at_once_renews_in_one_gateway_call(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(datetime(2025, 4, 30, tzinfo=UTC))
    annual = _subscriber(client, "annual@example.com", cycle="annual")  # 3999: INV-000001
    clock.set(MARCH_31)
    one = _subscriber(client, "one@example.com")  # 399: INV-000002
    two = _subscriber(client, "two@example.com", cameras=2)  # 2 x 399 = 798: INV-000003
    three = _subscriber(client, "three@example.com", cameras=3)  # 3 x 399 = 1197: INV-000004
    # T4: the trial starts March 31 and lasts 30 x 24 h: it ends April 30, its first charge.
    trial = _subscriber(client, "trial@example.com", trial=True)
    subscribers = [annual, one, two, three, trial]
    with context.sessions() as session:
        before = {s: session.get(Subscription, s.subscription_id) for s in (annual, trial)}
        assert [
            (row.status, row.trial_reminder_at, row.renewal_reminder_at)
            for row in before.values()
            if row is not None
        ] == [
            (Status.ACTIVE, None, APRIL_30 - timedelta(days=7)),  # annual_renewal, 7 d before
            (Status.TRIALING, APRIL_30 - timedelta(days=3), None),  # trial_ending, 3 d before
        ]
    counting = CountingSandbox(context.gateway)

    # Due before: the annual reminder (April 30 - 7 d = April 23) and the trial's (April 27).
    assert run_due(with_gateway(context, counting), APRIL_30) == 2 + 5

    # M7: the monthly periods stay on the anchor's day (the 31st, clamped to April 30): the
    # next one ends May 31; the trial's anchor is its end (April 30): May 30; annual: a year.
    ends = {annual: datetime(2027, 4, 30, tzinfo=UTC), one: MAY_31, two: MAY_31}
    ends |= {three: MAY_31, trial: MAY_30}
    amounts = {annual: 3999, one: 399, two: 798, three: 1197, trial: 399}  # 399 a camera
    lines = {
        annual: "Kasa Care Plus x 1 camera, annual",
        one: PLUS_1,
        two: PLUS_2,
        three: "Kasa Care Plus x 3 cameras, monthly",
        trial: PLUS_1,
    }
    keys = {s: s.key(APRIL_30) for s in subscribers}
    # One gateway call for the page, nothing one at a time.
    assert [sorted(batch) for batch in counting.batches] == [sorted(keys.values())]
    assert counting.singles == []
    # Exactly one sandbox charge a subscriber, under its renewal key, of its amount.
    renewal_charges = {
        key: (charge_id, amount)
        for charge_id, key, amount, _ in sandbox_charges(context)
        if key.startswith("renewal:")
    }
    assert {key: amount for key, (_, amount) in renewal_charges.items()} == {
        keys[s]: amounts[s] for s in subscribers
    }

    with context.sessions() as session:
        rows = {s: session.get(Subscription, s.subscription_id) for s in subscribers}
        invoices = {
            s: session.scalars(
                select(Invoice)
                .options(selectinload(Invoice.lines))
                .where(Invoice.subscription_id == s.subscription_id, Invoice.created_at == APRIL_30)
            ).all()
            for s in subscribers
        }
        payments = {
            s: session.scalars(
                select(CardPayment).where(CardPayment.invoice_id.in_([i.id for i in invoices[s]]))
            ).all()
            for s in subscribers
        }
        made = {
            s: session.scalars(
                select(PaymentAttempt).where(
                    PaymentAttempt.subscription_id == s.subscription_id,
                    PaymentAttempt.purpose == AttemptPurpose.RENEWAL,
                )
            ).all()
            for s in subscribers
        }
    for s in subscribers:
        row = rows[s]
        assert row is not None
        annual_reminder = ends[s] - timedelta(days=7) if s is annual else None
        assert (
            row.status,
            row.current_period_start,
            row.current_period_end,
            row.unit_price,
            row.trial_reminder_at,  # T4: active now, no trial reminder left
            row.renewal_reminder_at,  # annual: 7 days before 2027-04-30
            row.job_failures,
        ) == (
            Status.ACTIVE,
            APRIL_30,
            ends[s],
            3999 if s is annual else 399,
            None,
            annual_reminder,
            0,
        )
        (invoice,) = invoices[s]
        assert (invoice.status.value, invoice.total, invoice.credit_used, invoice.charged) == (
            "paid",
            amounts[s],
            0,
            amounts[s],
        )
        assert invoice.paid_at == APRIL_30
        assert [
            (li.description, li.amount, li.period_start, li.period_end) for li in invoice.lines
        ] == [(lines[s], amounts[s], APRIL_30, ends[s])]
        charge_id, _ = renewal_charges[keys[s]]
        (payment,) = payments[s]
        assert (payment.gateway_charge_id, payment.amount, payment.refunded) == (
            charge_id,
            amounts[s],
            0,
        )
        (attempt,) = made[s]
        assert (
            attempt.idempotency_key,
            attempt.status,
            attempt.amount,
            attempt.invoice_id,
            attempt.gateway_charge_id,
            attempt.period_start,
            attempt.settled_at,
        ) == (
            keys[s],
            AttemptStatus.SUCCEEDED,
            amounts[s],
            invoice.id,
            charge_id,
            APRIL_30,
            APRIL_30,
        )

    # M8: the page's invoices take the next numbers, gapless, in the page's (id) order.
    numbers = {s: invoices[s][0].number for s in subscribers}
    in_page_order = sorted(subscribers, key=lambda s: s.subscription_id)
    assert [numbers[s] for s in in_page_order] == [f"INV-{n:06d}" for n in range(5, 10)]
    assert _invoice_numbers(context) == [f"INV-{n:06d}" for n in range(1, 10)]

    # And once more: nothing is due, nothing is charged.
    assert run_due(with_gateway(context, counting), APRIL_30) == 0
    assert len(counting.batches) == 1 and len(sandbox_charges(context)) == 4 + 5


# A mixed page: the batch renews the healthy rows, the rest go one at a time


@dataclass(frozen=True, slots=True)
class MixedPage:
    healthy: Subscriber  # Plus x 1
    healthy_two: Subscriber  # Plus x 2
    credit: Subscriber  # 100 of goodwill on the balance (M9)
    declines: Subscriber  # a card that attaches, then declines every charge (M5)
    no_card: Subscriber  # paid April from the balance, no card ever
    retrying: Subscriber  # past_due since April 30, its first retry due May 1

    @property
    def batched(self) -> list[Subscriber]:
        return [self.healthy, self.healthy_two, self.declines]

    @property
    def everyone(self) -> list[Subscriber]:
        return [*self.batched, self.credit, self.no_card, self.retrying]


def _mixed_page(
    client: TestClient, clock: FixedClock, context: AppContext, admin: dict[str, str]
) -> MixedPage:
    """Six subscribers due May 1 (one page), each of another kind; see `MixedPage`."""
    clock.set(MARCH_30)
    retrying = _subscriber(client, "retrying@example.com")  # 399, renews April 30
    card_on_file(client, token_for(client, retrying.email), DECLINES_AFTER_ATTACH)
    run_due(context, APRIL_30)  # declined: past_due, first retry April 30 + 1 day = May 1
    clock.set(APRIL_1)
    healthy = _subscriber(client, "healthy@example.com")
    healthy_two = _subscriber(client, "healthy-two@example.com", cameras=2)
    credit = _subscriber(client, "credit@example.com")
    goodwill(client, admin, str(credit.account_id), 100)
    declines = _subscriber(client, "declines@example.com")
    card_on_file(client, token_for(client, declines.email), DECLINES_AFTER_ATTACH)
    no_card, _ = owner(client, "no-card@example.com")
    goodwill(client, admin, no_card["id"], 399)  # pays April: the balance is 0 at renewal
    headers = token_for(client, "no-card@example.com")
    body = subscribe(client, headers, [register_camera(client, headers)["id"]])
    no_card_subscriber = Subscriber(
        "no-card@example.com", uuid.UUID(no_card["id"]), uuid.UUID(body["id"])
    )
    return MixedPage(healthy, healthy_two, credit, declines, no_card_subscriber, retrying)


ACTIVE_MAY = (Status.ACTIVE, MAY_1, JUNE_1, 399, None, 0, None, None, None, 0, None)
MAY_2 = MAY_1 + timedelta(days=1)
PAST_DUE_MAY = (Status.PAST_DUE, MAY_1, JUNE_1, 399, MAY_1, 0, MAY_2, None, None, 0, None)
MAY_KEY = "renewal:<sub>:2026-05-01T00:00:00+00:00"
APRIL_30_KEY = "renewal:<sub>:2026-04-30T00:00:00+00:00"

#: How each subscriber of the mixed page ends (everything written from April 30 on): what
#: the one-at-a-time path writes, whichever way the page's charges are made.
MIXED_PAGE_ENDS: dict[str, dict[str, Any]] = {
    "healthy": {
        "subscription": ACTIVE_MAY,
        "invoices": [("paid", 399, 0, 399, MAY_1, [(PLUS_1, 399, MAY_1, JUNE_1)])],
        "attempts": [(MAY_KEY, "succeeded", 399, None)],
        "card_payments": [(399, 0)],
        "balance": [],
        "notifications": ["payment_received"],  # its receipt (issue 14 item 3)
        "gateway": [(MAY_KEY, 399)],
    },
    "healthy_two": {
        "subscription": ACTIVE_MAY,  # the unit price is 399 a seat
        "invoices": [("paid", 798, 0, 798, MAY_1, [(PLUS_2, 798, MAY_1, JUNE_1)])],  # 2 x 399
        "attempts": [(MAY_KEY, "succeeded", 798, None)],
        "card_payments": [(798, 0)],
        "balance": [],
        "notifications": ["payment_received"],  # its receipt (issue 14 item 3)
        "gateway": [(MAY_KEY, 798)],
    },
    # M9: the balance pays first (100 of goodwill), the card the rest: 399 - 100 = 299.
    "credit": {
        "subscription": ACTIVE_MAY,
        "invoices": [("paid", 399, 100, 299, MAY_1, [(PLUS_1, 399, MAY_1, JUNE_1)])],
        "attempts": [(MAY_KEY, "succeeded", 299, None)],
        "card_payments": [(299, 0)],
        "balance": [(-100, False)],  # goodwill: never refundable
        "notifications": ["payment_received"],  # its receipt (issue 14 item 3)
        "gateway": [(MAY_KEY, 299)],
    },
    # M5: one declined attempt, an open invoice, past_due, retry a day later; nothing taken.
    "declines": {
        "subscription": PAST_DUE_MAY,
        "invoices": [("open", 399, 0, 0, None, [(PLUS_1, 399, MAY_1, JUNE_1)])],
        "attempts": [(MAY_KEY, "declined", 399, "generic_decline")],
        "card_payments": [],
        "balance": [],
        "notifications": ["payment_failed"],
        "gateway": [],
    },
    # No card to charge: no attempt at all, the invoice open, past_due like a decline.
    "no_card": {
        "subscription": PAST_DUE_MAY,
        "invoices": [("open", 399, 0, 0, None, [(PLUS_1, 399, MAY_1, JUNE_1)])],
        "attempts": [],
        "card_payments": [],
        "balance": [],
        "notifications": ["payment_failed"],
        "gateway": [],
    },
    # M5: the first retry (May 1) declines too: the next one 3 days after the first failure
    # (April 30 + 3 d = May 3), the period and its open invoice unchanged; the retry's
    # attempt is the period's second (`:2`).
    "retrying": {
        "subscription": (
            Status.PAST_DUE,
            APRIL_30,
            MAY_30,
            399,
            APRIL_30,
            1,
            datetime(2026, 5, 3, tzinfo=UTC),
            None,
            None,
            0,
            None,
        ),
        "invoices": [("open", 399, 0, 0, None, [(PLUS_1, 399, APRIL_30, MAY_30)])],
        "attempts": [
            (APRIL_30_KEY, "declined", 399, "generic_decline"),
            (f"{APRIL_30_KEY}:2", "declined", 399, "generic_decline"),
        ],
        "card_payments": [],
        "balance": [],
        "notifications": ["payment_failed", "payment_failed"],
        "gateway": [],
    },
}


@pytest.mark.parametrize("gateway_kind", ["batches", "no_batches", "batch_call_fails"])
def test_m4_m5_m9_a_mixed_page_ends_each_row_as_one_at_a_time(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    gateway_kind: str,
) -> None:
    """The same page, the same ends, whether the gateway takes the batch in one call
    (`batches`), takes one charge a call (`no_batches`: `charge_all` makes them concurrently),
    or fails the batch call (`batch_call_fails`: the whole page one at a time)."""
    page = _mixed_page(client, clock, context, admin_headers)
    gateway: PaymentGateway
    if gateway_kind == "no_batches":
        gateway = unbatched = Unbatched(context.gateway, together=len(page.batched))
        assert not isinstance(gateway, BatchCharging)
    else:
        gateway = counting = (
            BatchCallFails if gateway_kind == "batch_call_fails" else CountingSandbox
        )(context.gateway)
    assert isinstance(gateway, BatchCharging) == (gateway_kind != "no_batches")

    run_due(with_gateway(context, gateway), MAY_1)

    ends = {name: _state(context, getattr(page, name), APRIL_30) for name in MIXED_PAGE_ENDS}
    assert ends == MIXED_PAGE_ENDS

    batch_keys = sorted(s.key(MAY_1) for s in page.batched)
    one_by_one = [page.credit.key(MAY_1), page.retrying.key(APRIL_30, ":2")]
    if gateway_kind == "batches":
        # One call for the healthy rows and the declining one; M5: the decline is handed over,
        # no second gateway attempt for it. M9 and the retry go one at a time.
        assert [sorted(batch) for batch in counting.batches] == [batch_keys]
        assert sorted(counting.singles) == sorted(one_by_one)
    elif gateway_kind == "batch_call_fails":
        assert [sorted(batch) for batch in counting.batches] == [batch_keys]
        assert sorted(counting.singles) == sorted([*batch_keys, *one_by_one])
    else:
        # The batch's charges came from the pool's threads, all in flight at once (the barrier
        # held); the others one at a time from the job's own thread.
        assert not unbatched.together.broken
        pooled = sorted(key for key, thread in unbatched.calls if thread.startswith("ThreadPool"))
        assert pooled == batch_keys
        assert (
            len({thread for _, thread in unbatched.calls if thread.startswith("ThreadPool")}) == 3
        )
        assert sorted(key for key, _ in unbatched.calls) == sorted([*batch_keys, *one_by_one])

    # M8: May's invoices take the numbers after March 30 (1), April 30 (2) and April 1 (3 to
    # 7), gapless: 8 to 12, three paid and two open (declined, no card).
    assert _invoice_numbers(context) == [f"INV-{n:06d}" for n in range(1, 13)]
    # The gateway's books and ours agree, account by account, to the cent.
    assert {s.email: _card_money(context, s.account_id) for s in page.everyone} == {
        "healthy@example.com": (399 + 399, 399 + 399),
        "healthy-two@example.com": (798 + 798, 798 + 798),
        "credit@example.com": (399 + 299, 399 + 299),
        "declines@example.com": (399, 399),
        "no-card@example.com": (0, 0),
        "retrying@example.com": (399, 399),
    }


# A row that changes between the batch's charge and its apply


def _owner_acts_during_the_batch(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    act: Callable[[dict[str, str], str], None],
) -> tuple[Subscriber, Subscriber, CountingSandbox]:
    """Two Plus x 1 subscribers of April 1 (the second owns a spare camera); the May 1
    batch charges both, then, before it applies, `act(headers, spare camera)` runs as the
    second's owner on April 21 (10 of April's 30 days left)."""
    clock.set(APRIL_1)
    stays = _subscriber(client, "stays@example.com")
    changes = _subscriber(client, "changes@example.com")
    spare = register_camera(client, token_for(client, changes.email))["id"]
    clock.set(APRIL_21)
    headers = token_for(client, changes.email)
    gateway = ChangeDuringBatch(context.gateway, lambda: act(headers, spare))
    run_due(with_gateway(context, gateway), MAY_1)
    assert gateway.during is None, "the owner did not act during the batch"
    assert [sorted(batch) for batch in gateway.batches] == [
        sorted([stays.key(MAY_1), changes.key(MAY_1)])
    ]
    return stays, changes, gateway


def _renewal_attempts(context: AppContext, subscriber: Subscriber) -> list[PaymentAttempt]:
    with context.sessions() as session:
        return list(
            session.scalars(
                select(PaymentAttempt)
                .where(
                    PaymentAttempt.subscription_id == subscriber.subscription_id,
                    PaymentAttempt.purpose == AttemptPurpose.RENEWAL,
                )
                .order_by(PaymentAttempt.idempotency_key)
            )
        )


def test_m4_c1_a_row_cancelled_while_the_batch_charged_is_refunded_at_once(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    def cancel(headers: dict[str, str], _spare: str) -> None:
        response = client.delete("/v1/subscription", headers=headers)
        assert response.status_code == 200, response.text

    stays, cancelled, gateway = _owner_acts_during_the_batch(client, clock, context, cancel)

    # The other row of the page is renewed in the batch.
    assert _state(context, stays, MAY_1) == MIXED_PAGE_ENDS["healthy"]
    assert gateway.singles == []
    # The cancelled one: the charge the batch took pays nothing, so it was refunded at once
    # under the attempt's reversal key, and no invoice was issued for May.
    (charge_id, _, amount, _) = next(
        c for c in sandbox_charges(context) if c[1] == cancelled.key(MAY_1)
    )
    assert amount == 399
    (attempt,) = _renewal_attempts(context, cancelled)
    refunds = {charge: (key, refunded) for _, charge, key, refunded, _ in sandbox_refunds(context)}
    assert refunds[charge_id] == (f"reversal:{attempt.id}", 399)
    assert (
        attempt.idempotency_key,
        attempt.status,
        attempt.gateway_charge_id,
        attempt.invoice_id,
    ) == (
        cancelled.key(MAY_1),
        AttemptStatus.REVERSED,
        charge_id,
        None,
    )
    with context.sessions() as session:
        row = session.get(Subscription, cancelled.subscription_id)
        assert row is not None
        assert (row.ended_at, row.current_period_end) == (APRIL_21, MAY_1)
        assert session.scalars(
            select(Invoice.number).where(Invoice.account_id == cancelled.account_id)
        ).all() == ["INV-000002"]  # April's only
    # Per account, the gateway's charges less its refunds are what our books hold: stays
    # 399 + 399; cancelled: 399 + 399 charged, 399 x 10/30 = 133 (C1) + 399 refunded = 266,
    # and April's 399 paid by card less the 133 refund recorded = 266.
    assert _card_money(context, stays.account_id) == (798, 798)
    assert _card_money(context, cancelled.account_id) == (399 + 399 - 133 - 399, 399 - 133)
    # M8: April 1, 2 (the two subscribes), May 1: 3 (stays' renewal); nothing more.
    assert _invoice_numbers(context) == ["INV-000001", "INV-000002", "INV-000003"]


def test_m4_c2_a_row_changed_while_the_batch_charged_renews_alone_at_the_new_amount(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    def add_camera(headers: dict[str, str], spare: str) -> None:
        response = client.post(
            "/v1/subscription/cameras", json={"camera_id": spare}, headers=headers
        )
        assert response.status_code == 200, response.text
        # C2: credit 399 x 10/30 = 133 for the old seat, charge 798 x 10/30 = 266: net 133.
        assert response.json()["last_change"]["charge_now"] == {"amount": 133, "currency": "USD"}

    stays, changed, gateway = _owner_acts_during_the_batch(client, clock, context, add_camera)

    assert _state(context, stays, MAY_1) == MIXED_PAGE_ENDS["healthy"]
    # The changed row no longer renews at what was charged (399): it renewed one at a time at
    # its new amount, 2 x 399 = 798, under the period's second key; the first charge, paying
    # nothing, was refunded within the same run (its attempt set to be reversed).
    assert gateway.singles == [changed.key(MAY_1, ":2")]
    assert _state(context, changed, MAY_1) == {
        "subscription": ACTIVE_MAY,
        "invoices": [("paid", 798, 0, 798, MAY_1, [(PLUS_2, 798, MAY_1, JUNE_1)])],
        "attempts": [
            (MAY_KEY, "reversed", 399, None),
            (f"{MAY_KEY}:2", "succeeded", 798, None),
        ],
        "card_payments": [(798, 0)],
        "balance": [],
        "notifications": ["payment_received"],  # one receipt, for the invoice paid
        "gateway": [(MAY_KEY, 399), (f"{MAY_KEY}:2", 798)],
    }
    first, _ = _renewal_attempts(context, changed)
    (charge_id, *_) = next(c for c in sandbox_charges(context) if c[1] == changed.key(MAY_1))
    refunds = {charge: (key, refunded) for _, charge, key, refunded, _ in sandbox_refunds(context)}
    assert refunds[charge_id] == (f"reversal:{first.id}", 399)
    # Per account: changed, 399 (April) + 133 (the camera) + 399 (refunded) + 798 charged, so
    # 1729 - 399 = 1330 = 399 + 133 + 798 paid by card; stays 399 + 399.
    assert _card_money(context, changed.account_id) == (1729 - 399, 399 + 133 + 798)
    assert _card_money(context, stays.account_id) == (798, 798)
    # And later: nothing pending, nothing more moves.
    run_due(context, MAY_1 + 2 * RECONCILE_AFTER)
    assert _card_money(context, changed.account_id) == (1330, 1330)
    assert len(sandbox_refunds(context)) == 1


class ChangeDuringBatchRefundsDown(ChangeDuringBatch):
    """`ChangeDuringBatch` on a gateway that cannot be reached for refunds while `down`."""

    down = True

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        if self.down:
            raise GatewayDown("connection reset")
        return super().refund(
            charge_id=charge_id, amount=amount, idempotency_key=idempotency_key, now=now
        )


def test_m4_m5_a_reversal_that_fails_after_the_batch_stops_no_other_row_of_the_page(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    """The batch applies (one renewed, one declined), then the refund of a cancelled row's
    charge cannot reach the gateway. The declined row must still end as M5 says, from the
    decline the batch got: one declined attempt, no second gateway call in this run; the
    refund is left to the reconciler (attempt `reversing`) and goes through once it can."""
    clock.set(APRIL_1)
    stays = _subscriber(client, "stays@example.com")
    declines = _subscriber(client, "declines@example.com")
    card_on_file(client, token_for(client, declines.email), DECLINES_AFTER_ATTACH)
    cancels = _subscriber(client, "cancels@example.com")
    clock.set(APRIL_21)
    headers = token_for(client, cancels.email)

    def cancel() -> None:
        assert client.delete("/v1/subscription", headers=headers).status_code == 200

    gateway = ChangeDuringBatchRefundsDown(context.gateway, cancel)
    run_due(with_gateway(context, gateway), MAY_1)

    assert [sorted(batch) for batch in gateway.batches] == [
        sorted(s.key(MAY_1) for s in (stays, declines, cancels))
    ]
    assert _state(context, stays, MAY_1) == MIXED_PAGE_ENDS["healthy"]
    # M5: the decline the batch got is the period's one attempt; nothing charged again.
    assert gateway.singles == []
    assert _state(context, declines, MAY_1) == MIXED_PAGE_ENDS["declines"]
    (left,) = _renewal_attempts(context, cancels)
    assert left.status is AttemptStatus.REVERSING

    # The gateway answers again: the reconciler refunds the cancelled row's charge, once.
    gateway.down = False
    run_due(with_gateway(context, gateway), MAY_1 + timedelta(minutes=1))
    (reversed_,) = _renewal_attempts(context, cancels)
    assert reversed_.status is AttemptStatus.REVERSED
    # cancels: 399 + 399 charged; 399 x 10/30 = 133 (C1) and 399 refunded; books 399 - 133.
    assert _card_money(context, cancels.account_id) == (399 + 399 - 133 - 399, 399 - 133)
    assert _card_money(context, declines.account_id) == (399, 399)


# Another worker's renewal in flight


def _pending_renewal(context: AppContext, subscriber: Subscriber, created_at: datetime) -> None:
    """Another worker's renewal of `subscriber` for May: its pending attempt, committed at
    `created_at` (399, the key the one-at-a-time path gives)."""
    with context.sessions() as session:
        session.add(
            PaymentAttempt(
                account_id=subscriber.account_id,
                purpose=AttemptPurpose.RENEWAL,
                subscription_id=subscriber.subscription_id,
                period_start=MAY_1,
                amount=399,
                currency="USD",
                idempotency_key=subscriber.key(MAY_1),
                status=AttemptStatus.PENDING,
                created_at=created_at,
            )
        )
        session.commit()


def _card_token(context: AppContext, subscriber: Subscriber) -> str:
    with context.sessions() as session:
        payment = session.scalar(
            select(CardPayment).where(CardPayment.account_id == subscriber.account_id)
        )
        assert payment is not None
    return context.gateway.get_charge(payment.gateway_charge_id).token


@pytest.mark.parametrize("charged", [False, True], ids=["not_yet_charged", "charged"])
def test_m4_a_renewal_in_flight_is_left_to_its_worker_then_taken_up_with_its_key(
    client: TestClient, clock: FixedClock, context: AppContext, charged: bool
) -> None:
    """A young pending attempt (another worker's renewal, in flight) makes the batch leave its
    row: nothing charged for it. Once older than `IN_FLIGHT` (the worker died), the row is
    taken up one at a time with the same key: the sandbox answers the first charge if the
    other worker made one, so the period is charged once."""
    clock.set(APRIL_1)
    busy = _subscriber(client, "busy@example.com")
    free = _subscriber(client, "free@example.com")
    clock.set(MAY_1)
    _pending_renewal(context, busy, created_at=MAY_1)
    first = None
    if charged:
        first = context.gateway.charge(
            token=_card_token(context, busy),
            amount=Money(399, "USD"),
            idempotency_key=busy.key(MAY_1),
            now=MAY_1,
        )
    counting = CountingSandbox(context.gateway)

    run_due(with_gateway(context, counting), MAY_1)

    assert counting.batches == [[free.key(MAY_1)]] and counting.singles == []
    assert _state(context, free, MAY_1) == MIXED_PAGE_ENDS["healthy"]
    held = _state(context, busy, MAY_1)
    assert (held["subscription"][:3], held["invoices"], held["attempts"]) == (
        (Status.ACTIVE, APRIL_1, MAY_1),
        [],
        [(MAY_KEY, "pending", 399, None)],
    )
    assert held["gateway"] == ([(MAY_KEY, 399)] if charged else [])

    # The worker never came back: past IN_FLIGHT (and short of the reconciler's wait) the
    # next run takes the row up one at a time, reusing the attempt and its key.
    clock.set(MAY_1 + IN_FLIGHT + timedelta(minutes=1))
    run_due(with_gateway(context, counting), clock.now())

    assert len(counting.batches) == 1 and counting.singles == [busy.key(MAY_1)]
    assert _state(context, busy, MAY_1) == MIXED_PAGE_ENDS["healthy"]
    ((charge_id, _, _, _),) = [c for c in sandbox_charges(context) if c[1] == busy.key(MAY_1)]
    if first is not None:
        assert charge_id == first.id  # the first charge, answered again
    with context.sessions() as session:
        paid_by = session.scalars(
            select(CardPayment.gateway_charge_id).where(
                CardPayment.account_id == busy.account_id, CardPayment.created_at == MAY_1
            )
        ).all()
    assert paid_by == [charge_id]
    assert _card_money(context, busy.account_id) == (399 + 399, 399 + 399)
    assert sandbox_refunds(context) == []


# Two workers at once (PostgreSQL)


@pytest.fixture
def postgres(context: AppContext) -> AppContext:
    if context.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: two workers cannot overlap")
    return context


class SlowBatches(SandboxGateway):
    """The real sandbox, a little slow to answer a batch: the other worker's claim then
    comes while the charges are in flight."""

    def __init__(self, real: PaymentGateway) -> None:
        assert isinstance(real, SandboxGateway)
        super().__init__(real.engine)

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        answers = super().charge_many(requests, now=now)
        threading.Event().wait(0.2)
        return answers


def test_m4_m8_two_workers_at_once_renew_each_row_once(
    client: TestClient, clock: FixedClock, postgres: AppContext
) -> None:
    context = postgres
    clock.set(APRIL_1)
    subscribers = [_subscriber(client, f"owner{n}@example.com") for n in range(40)]
    worker = with_gateway(context, SlowBatches(context.gateway))
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=30)
            run_due(worker, MAY_1)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads) and failures == []

    with context.sessions() as session:
        starts = session.scalars(select(Subscription.current_period_start)).all()
        statuses = session.scalars(select(PaymentAttempt.status)).all()
        renewals = session.scalars(
            select(PaymentAttempt.idempotency_key).where(
                PaymentAttempt.purpose == AttemptPurpose.RENEWAL
            )
        ).all()
    assert sorted(set(starts)) == [MAY_1] and len(starts) == 40
    # One renewal attempt a subscriber, under its key, succeeded; none left pending.
    assert sorted(renewals) == sorted(s.key(MAY_1) for s in subscribers)
    assert set(statuses) == {AttemptStatus.SUCCEEDED} and len(statuses) == 40 + 40
    # Charged exactly once each: 40 purchases and 40 renewals of 399, nothing refunded.
    keys = [key for _, key, _, _ in sandbox_charges(context)]
    assert len(keys) == len(set(keys)) == 80
    assert sorted(k for k in keys if k.startswith("renewal:")) == sorted(renewals)
    assert sandbox_refunds(context) == []
    # M8: April's 40 invoices, then May's: 1 to 80, no gap, no duplicate.
    assert _invoice_numbers(context) == [f"INV-{n:06d}" for n in range(1, 81)]
    assert {_card_money(context, s.account_id) for s in subscribers} == {(798, 798)}
