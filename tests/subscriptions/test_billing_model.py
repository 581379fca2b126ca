"""A stateful model test of billing (SPEC section 2: T1-T4, P1-P5, C1-C6, M1-M9, F1-F5).

Hypothesis drives the real app in-process (TestClient over `create_app(context)`, a
`FixedClock` it moves, due jobs run with `run_due`) on both backends, and checks it after
every step against an independent model written here: its own calendar (M7), its own
proration (`Fraction` and Python's half-even `round`, M6), its own settlement with the
credit balance (M9) and its own entitlement resolution (F1-F5, T4). Nothing of the
service's rules or proration code is imported into the model.

Operations: sign up one or two owners (US), give or move their billing address between US
states (issue 14 item 1: California 7.25% and New York 4% sales tax added to the catalog
price, Oregon none; no address: none), register or import cameras of mixed models,
unbind and re-bind them (C6, F2), put a card on file (good or declining) and swap it (M2),
subscribe Plus or Premium monthly or annual with or without trial (an 11th Premium camera
too), add and remove cameras, change Premium <-> Plus in the same cycle, change the cycle
(P5), cancel, and move the clock by hours to ~40 days (or exactly to the next due instant)
running due jobs. Every state-changing call is previewed first (C5: same quote).

After every step: the balance (>= 0) and every invoice and credit note equal the model's
(status, total, credit used, card charge, lines and their periods); refunds never exceed
card charges (per charge, in our tables and at the gateway); every line's net + tax is its
gross, its net the gross / (1 + its rate) rounded half-even, each document's totals the sums
of its lines, the rate of each line the one the model expects for its period, and the tax
credited and refunded never more than the tax of paid invoices (issue 14 item 1); numbers
are gapless (M8); at
most one trial (T1) and one live subscription of one type (P1), Premium <= 10 cameras (P2);
each camera's entitlement and free-plan end are the model's; an open invoice exists only
while the subscription is past_due (M5, C1).

Crashes (M4): a camera added while the process "dies" before the gateway's charge, after it,
or at our commit (the real sandbox with a crash injected, or a failing commit) changes
nothing in the model; the gateway may hold a charge no invoice records, which the attempt
committed before it names. After every step, for all accounts: gateway charges - refunds =
card payments - refunds carried out + what pending attempts took, and once the clock has
moved 10 minutes past an attempt (the jobs run the reconciler) it is settled: reversed or
abandoned.

`test_c1_m5_cancel_while_past_due_voids_the_open_invoice` replays the shortest failing
sequence the machine found for C1/M5.
"""

from __future__ import annotations

import calendar
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, currently_in_test_context, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from kasacare.app import create_app
from kasacare.billing.models import (
    AttemptStatus,
    CardPayment,
    OutboxStatus,
    PaymentAttempt,
    RefundOutbox,
)
from kasacare.billing.reconciler import RECONCILE_AFTER
from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from kasacare.subscriptions.models import Subscription
from tests.conftest import ADMIN_TOKEN, START
from tests.databases import empty_sandbox, empty_tables
from tests.factories import PASSWORD
from tests.subscriptions.test_crash_safety import (
    CrashingGateway,
    When,
    commit_fails_once_with_an_invoice,
    sandbox_charges,
    sandbox_refunds,
    with_gateway,
)

# ---- the model's own copy of the test catalog (tests/catalog.toml) ------------------------

TRIAL_DAYS = 30
PAID_HOURS = 30 * 24
PREMIUM_MAX = 10
PRICES = {
    ("plus", "monthly"): 399,
    ("plus", "annual"): 3999,
    ("premium", "monthly"): 1099,
    ("premium", "annual"): 10999,
}
CYCLE_MONTHS = {"monthly": 1, "annual": 12}
#: Billing states and their sales tax (tests/catalog.toml), added to the catalog price.
STATES = {"CA": Fraction(725, 10000), "NY": Fraction(4, 100), "OR": Fraction(0)}
#: model -> (free history hours, free period years), or None: no free cloud recording (F5).
FREE: dict[str, tuple[int, int] | None] = {
    "KC100": (12, 2),
    "KC110": (12, 2),
    "KC120": (48, 2),
    "KC200": (48, 2),
    "KC300": (48, 1),
    "KC310": (12, 1),
    "KC105": None,
    "KC115": None,
}
MODELS = sorted(FREE)
RETRY_DAYS = (1, 3, 5, 7)
CARDS = {
    "good": "4242424242424242",
    "good_mastercard": "5555555555554444",
    "declines": "4000000000000341",  # attaches, then declines every charge
    "insufficient": "4000000000009995",  # declines with insufficient funds
}
#: The card an owner starts with: mostly one that pays, some that decline, sometimes none.
CARD_KINDS = st.sampled_from(["good", "good", "declines", "insufficient", None])
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Problem = tuple[int, str]


#: How often each interesting situation came up (printed at the end: run with -s to see it).
SEEN: Counter[str] = Counter()


def event(name: str) -> None:
    if currently_in_test_context():
        hypothesis_event(name)
    SEEN[name] += 1


# ---- the model's own calendar and money arithmetic -----------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """M7: the same day `months` later, clamped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def unused(start: datetime, end: datetime, now: datetime) -> Fraction:
    """M6: (period_end - now) / (period_end - period_start), exact."""
    tick = timedelta(microseconds=1)
    return Fraction((end - now) // tick, (end - start) // tick)


def prorate(amount: int, fraction: Fraction) -> int:
    """M6: rounded half-even to the minor unit (Python's round on a Fraction)."""
    return round(amount * fraction)


def gross(price: int, rate: Fraction) -> int:
    """Issue 14: an exclusive (US) price is the net; the tax on it is rounded once."""
    return price + round(price * rate)


def value(plan: str, seats: int, unit: int) -> int:
    """A state's full-period value: seats x seat price (Plus) or the flat price (Premium)."""
    return unit * seats if plan == "plus" else unit


def net_of_credit(amount: int, balance: int) -> int:
    return amount - min(amount, balance) if balance > 0 else amount


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- the model ------------------------------------------------------------------------------

Line = tuple[int, datetime, datetime]


@dataclass
class MCamera:
    id: str
    serial: str
    model: str
    setup_at: datetime


@dataclass
class MInvoice:
    status: str  # open | paid | void
    total: int
    credit_used: int
    charged: int
    lines: list[Line]

    def key(self) -> tuple[Any, ...]:
        return (self.status, self.total, self.credit_used, self.charged, tuple(self.lines))


@dataclass
class MSub:
    id: str
    plan: str
    cycle: str
    status: str  # trialing | active | past_due
    seats: list[str]
    unit: int  # full-period price as invoiced: per seat (Plus) or flat (Premium)
    anchor: datetime
    index: int  # period index from the anchor; -1 is the trial
    start: datetime
    end: datetime
    trial_end: datetime | None
    rate: Fraction = Fraction(0)  # the sales tax the period was invoiced at (issue 14)
    dunning_since: datetime | None = None
    retries: int = 0
    next_retry: datetime | None = None
    open_invoice: MInvoice | None = None

    @property
    def value(self) -> int:
        return value(self.plan, len(self.seats), self.unit)


@dataclass
class MOwner:
    email: str
    account_id: str
    headers: dict[str, str]
    token_expires: datetime
    cameras: list[MCamera] = field(default_factory=list)
    card: str | None = None  # good | bad
    rate: Fraction = Fraction(0)  # the billing address's sales tax (none without one)
    trial_used: bool = False
    sub: MSub | None = None
    balance: int = 0
    charged: int = 0  # card charges, all time
    refunded: int = 0  # refunds to card charges, all time
    invoices: list[MInvoice] = field(default_factory=list)
    notes: list[tuple[str, int]] = field(default_factory=list)  # (kind, total)

    def camera(self, camera_id: str) -> MCamera:
        return next(c for c in self.cameras if c.id == camera_id)


@dataclass
class Money:
    """What a change moves (C2), in the model."""

    lines: list[Line]
    net: int
    card: int
    used: int
    added: int
    balance_after: int


def free_plan_ends_at(camera: MCamera) -> datetime | None:
    row = FREE[camera.model]
    return None if row is None else add_months(camera.setup_at, 12 * row[1])


def free_hours(camera: MCamera, now: datetime) -> int:
    row, ends = FREE[camera.model], free_plan_ends_at(camera)
    return row[0] if row is not None and ends is not None and now < ends else 0


class BillingMachine(RuleBasedStateMachine):
    def __init__(self, context: AppContext, clock: FixedClock, client: TestClient) -> None:
        super().__init__()
        self.context, self.clock, self.client = context, clock, client
        empty_tables(context.engine)
        empty_sandbox(context.gateway)
        clock.set(START)
        self.owners: list[MOwner] = []
        self.unbound: list[MCamera] = []  # devices free to bind again (F2: setup kept)
        self.serials = itertools.count(1)

    def teardown(self) -> None:
        empty_tables(self.context.engine)
        empty_sandbox(self.context.gateway)

    # ---- plumbing ------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def sign_in(self, owner: MOwner) -> None:
        response = self.client.post(
            "/v1/auth/token", json={"email": owner.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        owner.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        owner.token_expires = parse(response.json()["expires_at"])

    def call(
        self, owner: MOwner, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Response:
        if owner.token_expires <= self.now:  # FixedClock: tokens die 12 h after issue
            self.sign_in(owner)
        response: Response = self.client.request(method, path, json=body, headers=owner.headers)
        return response

    def pick_owner(self, who: int) -> MOwner:
        return self.owners[who % len(self.owners)]

    def subscribed_owner(self, who: int) -> MOwner:
        owners = [owner for owner in self.owners if owner.sub is not None]
        return owners[who % len(owners)]

    def new_serial(self) -> str:
        return f"HM{next(self.serials):08d}"

    @staticmethod
    def expect_problem(response: Response, problems: set[Problem]) -> None:
        assert response.status_code >= 400, (
            f"expected one of {problems}, got {response.status_code} {response.text}"
        )
        got = (response.status_code, response.json().get("code"))
        assert got in problems, f"expected one of {problems}, got {got}: {response.text}"

    def entitlement(self, owner: MOwner, camera: MCamera) -> tuple[str, int]:
        """T4, M5, F1-F5: trial/plan while covered (past_due keeps the plan), else the free
        plan while it runs, else none."""
        sub = owner.sub
        if sub is not None and camera.id in sub.seats:
            source = "trial" if sub.status == "trialing" else sub.plan
            return source, max(PAID_HOURS, free_hours(camera, self.now))
        hours = free_hours(camera, self.now)
        return ("free", hours) if hours else ("none", 0)

    def erasures(self, owner: MOwner, camera_ids: list[str]) -> list[tuple[str, datetime]]:
        """C4, C5: cameras leaving paid coverage whose window shrinks, and the cut-off."""
        erased = []
        for camera_id in camera_ids:
            camera = owner.camera(camera_id)
            after = free_hours(camera, self.now)
            if after < self.entitlement(owner, camera)[1]:
                erased.append((camera_id, self.now - timedelta(hours=after)))
        return sorted(erased)

    def quote(
        self,
        *,
        charge: int = 0,
        refund: int = 0,
        added: int = 0,
        used: int = 0,
        balance_after: int,
        next_invoice: tuple[datetime, int] | None,
        erased: list[tuple[str, datetime]] | None = None,
    ) -> dict[str, Any]:
        return {
            "charge_now": usd(charge),
            "refund_now": usd(refund),
            "credit_added": usd(added),
            "credit_used": usd(used),
            "balance_after": usd(balance_after),
            "next_invoice": None
            if next_invoice is None
            else {"date": next_invoice[0], "amount": usd(next_invoice[1])},
            "erased": erased or [],
        }

    @staticmethod
    def read_quote(body: dict[str, Any]) -> dict[str, Any]:
        keys = ("charge_now", "refund_now", "credit_added", "credit_used", "balance_after")
        quote = {key: body[key] for key in keys}
        upcoming = body["next_invoice"]
        quote["next_invoice"] = (
            None
            if upcoming is None
            else {"date": parse(upcoming["date"]), "amount": upcoming["amount"]}
        )
        quote["erased"] = sorted((e["camera_id"], parse(e["before"])) for e in body["erased"])
        return quote

    def act(
        self,
        owner: MOwner,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        preview: dict[str, Any],
    ) -> Response:
        """The real call, after its preview (C5: one computation, the same quote)."""
        quoted = self.call(owner, "POST", "/v1/subscription/preview", preview)
        response = self.call(owner, method, path, body)
        if response.status_code < 300:
            assert quoted.status_code == 200, quoted.text
            real = response.json().get("last_change", response.json())
            assert self.read_quote(quoted.json()) == self.read_quote(real)
        elif response.json().get("code") not in ("card_declined", "payment_method_required"):
            assert (quoted.status_code, quoted.json().get("code")) == (
                response.status_code,
                response.json().get("code"),
            ), quoted.text
        return response

    # ---- money in the model ----------------------------------------------------------------

    def pay(self, owner: MOwner, invoice: MInvoice, used: int, card: int) -> None:
        invoice.status, invoice.credit_used, invoice.charged = "paid", used, card
        owner.balance -= used
        owner.charged += card

    def refund(self, owner: MOwner, unused_amount: int) -> tuple[int, int]:
        """C1 + M9: the unused part plus the balance back to the card charges, capped by
        what they can still take; unrefundable unused time stays as credit."""
        returned = unused_amount + max(owner.balance, 0)
        refunded = min(returned, owner.charged - owner.refunded)
        from_unused = min(unused_amount, refunded)
        from_balance = refunded - from_unused
        rest = unused_amount - from_unused
        if refunded > 0:
            owner.notes.append(("refund", refunded))
            owner.refunded += refunded
        if rest > 0:
            event("cancel: unused time kept as credit")
            owner.notes.append(("credit", rest))
        if from_balance:
            event("balance refunded")
        owner.balance += rest - from_balance
        return refunded, rest

    def settle(self, owner: MOwner, amount: int) -> tuple[int, int]:
        """M9: (credit used, card charge) for an amount due now."""
        return self.settle_with(owner.balance, amount)

    @staticmethod
    def settle_with(balance: int, amount: int) -> tuple[int, int]:
        used = min(balance, amount) if balance > 0 else 0
        return used, amount - used

    def renew(self, owner: MOwner, sub: MSub, at: datetime) -> None:
        """T4, M7, M5: the next anchored period at catalog prices, balance then card."""
        months = CYCLE_MONTHS[sub.cycle]
        sub.index += 1
        start = add_months(sub.anchor, sub.index * months)
        assert start == sub.end == at
        sub.start, sub.end = start, add_months(sub.anchor, (sub.index + 1) * months)
        sub.unit, sub.status = gross(PRICES[sub.plan, sub.cycle], owner.rate), "active"
        sub.rate = owner.rate
        invoice = MInvoice("open", sub.value, 0, 0, [(sub.value, sub.start, sub.end)])
        owner.invoices.append(invoice)
        used, card = self.settle(owner, invoice.total)
        if card > 0 and owner.card != "good":
            event("renewal failed: past_due")
            sub.status, sub.dunning_since, sub.retries = "past_due", at, 0
            sub.next_retry, sub.open_invoice = at + timedelta(days=RETRY_DAYS[0]), invoice
        else:
            self.pay(owner, invoice, used, card)

    def retry(self, owner: MOwner, sub: MSub, *, scheduled: bool) -> None:
        """M5, M2: retry the open invoice; the last scheduled failure ends it."""
        invoice = sub.open_invoice
        assert invoice is not None and sub.dunning_since is not None
        used, card = self.settle(owner, invoice.total)
        if card > 0 and owner.card != "good":
            if not scheduled:
                return
            sub.retries += 1
            if sub.retries >= len(RETRY_DAYS):
                event("ended in dunning")
                invoice.status = "void"
                self.refund(owner, 0)
                owner.sub = None
            else:
                sub.next_retry = sub.dunning_since + timedelta(days=RETRY_DAYS[sub.retries])
            return
        event(f"past_due paid ({'retry' if scheduled else 'card replaced'})")
        self.pay(owner, invoice, used, card)
        sub.status, sub.dunning_since, sub.retries = "active", None, 0
        sub.next_retry, sub.open_invoice = None, None

    def due(self, sub: MSub) -> datetime | None:
        return sub.next_retry if sub.status == "past_due" else sub.end

    def run_model_jobs(self, until: datetime) -> int:
        ran = 0
        for owner in self.owners:
            while owner.sub is not None:
                sub = owner.sub
                due = self.due(sub)
                if due is None or due > until:
                    break
                if sub.status == "past_due":
                    self.retry(owner, sub, scheduled=True)
                else:
                    self.renew(owner, sub, due)
                ran += 1
        return ran

    def change_money(self, owner: MOwner, plan: str, seats: int) -> tuple[Money, int]:
        """C2, C3, T4: credit the unused old state, charge the new one to the same end."""
        sub = owner.sub
        assert sub is not None
        # the period's tax: a new address is taxed from the next period (issue 14)
        unit = sub.unit if plan == sub.plan else gross(PRICES[plan, sub.cycle], sub.rate)
        old, new = sub.value, value(plan, seats, unit)
        lines: list[Line] = []
        if sub.status != "trialing" and old != new:
            fraction = unused(sub.start, sub.end, self.now)
            lines = [
                (-prorate(old, fraction), self.now, sub.end),
                (prorate(new, fraction), self.now, sub.end),
            ]
        net = sum(amount for amount, _, _ in lines)
        if net >= 0:
            used, card = self.settle(owner, net)
            money = Money(lines, net, card, used, 0, owner.balance - used)
        else:
            money = Money(lines, net, 0, 0, -net, owner.balance - net)
        return money, unit

    def apply_change(
        self, owner: MOwner, money: Money, plan: str, unit: int, seats: list[str]
    ) -> None:
        sub = owner.sub
        assert sub is not None
        if money.lines and money.net >= 0:
            invoice = MInvoice("open", money.net, 0, 0, money.lines)
            owner.invoices.append(invoice)
            self.pay(owner, invoice, money.used, money.card)
        elif money.lines:
            owner.notes.append(("credit", -money.net))
            owner.balance += -money.net
        sub.plan, sub.unit, sub.seats = plan, unit, seats

    def card_problem(self, owner: MOwner, card_charge: int) -> Problem | None:
        if card_charge <= 0 or owner.card == "good":
            return None
        if owner.card is None:
            return (402, "payment_method_required")
        return (402, "card_declined")

    # ---- rules: accounts, cameras, cards -----------------------------------------------------

    @initialize(
        days=st.integers(0, 400),
        hours=st.integers(0, 23),
        card=CARD_KINDS,
        models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=3),
    )
    def first_owner(self, days: int, hours: int, card: str | None, models: list[str]) -> None:
        # Start anywhere in a year so anchors land on every day of the month (M7 clamps).
        self.clock.set(START + timedelta(days=days, hours=hours))
        self.sign_up()
        self.first_cameras(self.owners[0], card, models)

    @precondition(lambda self: len(self.owners) < 2)
    @rule(card=CARD_KINDS, models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=3))
    def second_owner(self, card: str | None, models: list[str]) -> None:
        self.sign_up()
        self.first_cameras(self.owners[-1], card, models)

    def first_cameras(self, owner: MOwner, card: str | None, models: list[str]) -> None:
        if card is not None:
            self.attach_card(owner, card)
        for model in models:
            self.register(owner, model, self.new_serial(), self.now)

    def sign_up(self) -> None:
        email = f"owner{len(self.owners) + 1}@example.com"
        response = self.client.post(
            "/v1/accounts", json={"email": email, "password": PASSWORD, "country": "US"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["currency"] == "USD"
        owner = MOwner(email, response.json()["id"], {}, self.now)
        self.sign_in(owner)
        self.owners.append(owner)

    @precondition(lambda self: self.owners)
    @rule(who=st.integers(0, 1), models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=4))
    def register_cameras(self, who: int, models: list[str]) -> None:
        owner = self.pick_owner(who)
        for model in models:
            self.register(owner, model, self.new_serial(), self.now)

    @precondition(lambda self: all(len(owner.cameras) <= PREMIUM_MAX for owner in self.owners))
    @rule(who=st.integers(0, 1), model=st.sampled_from(MODELS))
    def register_eleven(self, who: int, model: str) -> None:
        """Enough cameras to try an 11th on Premium (P2)."""
        owners = [owner for owner in self.owners if len(owner.cameras) < PREMIUM_MAX + 1]
        owner = owners[who % len(owners)]
        while len(owner.cameras) < PREMIUM_MAX + 1:
            self.register(owner, model, self.new_serial(), self.now)

    @precondition(lambda self: self.owners)
    @rule(who=st.integers(0, 1), model=st.sampled_from(MODELS), days_ago=st.integers(0, 800))
    def import_camera(self, who: int, model: str, days_ago: int) -> None:
        """F2: the operator imports a camera with its original setup; its free plan may be
        over already (F4)."""
        owner = self.pick_owner(who)
        setup_at = self.now - timedelta(days=days_ago, minutes=7)
        serial = self.new_serial()
        response = self.client.post(
            "/v1/admin/cameras",
            json={
                "account_id": owner.account_id,
                "model": model,
                "serial": serial,
                "name": "imported",
                "setup_at": iso(setup_at),
            },
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        camera = MCamera(response.json()["id"], serial, model, setup_at)
        self.check_registered(owner, camera, response.json())

    def register(self, owner: MOwner, model: str, serial: str, setup_at: datetime) -> None:
        response = self.call(
            owner, "POST", "/v1/cameras", {"model": model, "serial": serial, "name": model}
        )
        assert response.status_code == 201, response.text
        camera = MCamera(response.json()["id"], serial, model, setup_at)
        self.check_registered(owner, camera, response.json())

    def check_registered(self, owner: MOwner, camera: MCamera, body: dict[str, Any]) -> None:
        owner.cameras.append(camera)
        assert parse(body["setup_at"]) == camera.setup_at  # F2: setup kept across bindings
        source, hours = self.entitlement(owner, camera)
        assert (body["entitlement"]["source"], body["entitlement"]["history_hours"]) == (
            source,
            hours,
        )

    @precondition(lambda self: any(owner.cameras for owner in self.owners))
    @rule(who=st.integers(0, 1), pick=st.integers(0, 63))
    def unbind_camera(self, who: int, pick: int) -> None:
        """C6: a covered camera cannot be unbound; another one can, keeping its setup."""
        owners = [owner for owner in self.owners if owner.cameras]
        owner = owners[who % len(owners)]
        camera = owner.cameras[pick % len(owner.cameras)]
        response = self.call(owner, "DELETE", f"/v1/cameras/{camera.id}")
        if owner.sub is not None and camera.id in owner.sub.seats:
            self.expect_problem(response, {(409, "camera_subscribed")})
            return
        assert response.status_code == 204, response.text
        owner.cameras.remove(camera)
        self.unbound.append(camera)

    @precondition(lambda self: self.owners and self.unbound)
    @rule(who=st.integers(0, 1), pick=st.integers(0, 63))
    def rebind_camera(self, who: int, pick: int) -> None:
        """F2: re-binding, on any account, never restarts the free period."""
        device = self.unbound.pop(pick % len(self.unbound))
        self.register(self.pick_owner(who), device.model, device.serial, device.setup_at)

    @precondition(lambda self: self.owners)
    @rule(who=st.integers(0, 1), state=st.sampled_from(sorted(STATES)))
    def set_address(self, who: int, state: str) -> None:
        """Issue 14 item 1: the billing state decides the sales tax of the next periods."""
        owner = self.pick_owner(who)
        body = {
            "name": "Model Owner",
            "line1": "1 Main Street",
            "city": "Springfield",
            "region": state,
            "postal_code": "10001",
            "country": "US",
        }
        response = self.call(owner, "PUT", "/v1/me/billing-address", body)
        assert response.status_code == 200, response.text
        assert Fraction(response.json()["tax"]["rate"]) / 100 == STATES[state]
        owner.rate = STATES[state]
        event(f"billing address in {state}")

    @precondition(lambda self: self.owners)
    @rule(who=st.integers(0, 1), card=st.sampled_from(sorted(CARDS)))
    def put_card(self, who: int, card: str) -> None:
        self.attach_card(self.pick_owner(who), card)

    def attach_card(self, owner: MOwner, card: str) -> None:
        """M2, M3: every test card attaches; replacing it retries a past_due charge at once."""
        token = self.client.post(
            "/v1/sandbox/tokens",
            json={"number": CARDS[card], "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        )
        assert token.status_code == 201, token.text
        response = self.call(owner, "PUT", "/v1/payment-method", {"token": token.json()["token"]})
        assert response.status_code == 200, response.text
        assert response.json()["last4"] == CARDS[card][-4:]
        owner.card = "good" if card.startswith("good") else "bad"
        if owner.sub is not None and owner.sub.status == "past_due":
            self.retry(owner, owner.sub, scheduled=False)

    # ---- rules: subscriptions ------------------------------------------------------------------

    @precondition(lambda self: any(owner.cameras for owner in self.owners))
    @rule(
        who=st.integers(0, 1),
        plan=st.sampled_from(["plus", "premium"]),
        cycle=st.sampled_from(["monthly", "annual"]),
        trial=st.booleans(),
        count=st.integers(1, 4),
        offset=st.integers(0, 63),
    )
    def subscribe(
        self, who: int, plan: str, cycle: str, trial: bool, count: int, offset: int
    ) -> None:
        # Mostly an owner without a live subscription; P1's refusals when every owner has one.
        owners = [owner for owner in self.owners if owner.cameras]
        owners = [owner for owner in owners if owner.sub is None] or owners
        owner = owners[who % len(owners)]
        covered = set(owner.sub.seats) if owner.sub else set()
        free = [c.id for c in owner.cameras if c.id not in covered]
        if free:
            at = offset % len(free)
            chosen = (free[at:] + free[:at])[:count]
        else:
            chosen = [owner.cameras[offset % len(owner.cameras)].id]
        self.try_subscribe(owner, plan, cycle, trial, chosen)

    @precondition(
        lambda self: any(
            owner.sub is None and len(owner.cameras) > PREMIUM_MAX for owner in self.owners
        )
    )
    @rule(who=st.integers(0, 1), cycle=st.sampled_from(["monthly", "annual"]))
    def subscribe_premium_full(self, who: int, cycle: str) -> None:
        """P2 (Q10): an 11th camera on Premium is refused; 10 fit."""
        owners = [o for o in self.owners if o.sub is None and len(o.cameras) > PREMIUM_MAX]
        owner = owners[who % len(owners)]
        cameras = [camera.id for camera in owner.cameras]
        self.try_subscribe(owner, "premium", cycle, False, cameras[: PREMIUM_MAX + 1])
        self.try_subscribe(owner, "premium", cycle, False, cameras[:PREMIUM_MAX])

    def try_subscribe(
        self, owner: MOwner, plan: str, cycle: str, trial: bool, chosen: list[str]
    ) -> None:
        """T1, T4, P1, P2, M9: a trial moves no money; otherwise the first period is paid
        now, from the balance first, then the card."""
        covered = set(owner.sub.seats) if owner.sub else set()
        body = {"plan": plan, "cycle": cycle, "camera_ids": chosen, "trial": trial}
        response = self.act(owner, "POST", "/v1/subscription", body, {"action": "create", **body})
        problems: set[Problem] = set()
        if owner.sub is not None:
            same = owner.sub.plan == plan
            problems.add((409, "subscription_exists" if same else "plan_type_conflict"))
            if covered & set(chosen):
                problems.add((409, "camera_subscribed"))
        if plan == "premium" and len(chosen) > PREMIUM_MAX:
            problems.add((409, "premium_camera_limit"))
        if trial and owner.trial_used:
            problems.add((409, "trial_already_used"))
        price = gross(PRICES[plan, cycle], owner.rate)
        total = value(plan, len(chosen), price)
        used, card = (0, 0) if trial else self.settle(owner, total)
        if not problems:
            if trial and owner.card is None:
                problems.add((402, "payment_method_required"))
            elif (problem := self.card_problem(owner, card)) is not None:
                problems.add(problem)
        if problems:
            event(f"subscribe refused: {sorted(problems)}")
            self.expect_problem(response, problems)
            return
        event(f"subscribe {plan} {cycle}{' trial' if trial else ''}")
        assert response.status_code == 201, response.text
        created = response.json()
        if trial:
            trial_end = self.now + timedelta(days=TRIAL_DAYS)
            start, end, anchor, index = self.now, trial_end, trial_end, -1
            expected = self.quote(balance_after=owner.balance, next_invoice=(end, 0))
            owner.trial_used = True
        else:
            trial_end = None
            start, end = self.now, add_months(self.now, CYCLE_MONTHS[cycle])
            anchor, index = start, 0
            expected = self.quote(
                charge=card, used=used, balance_after=owner.balance - used, next_invoice=(end, 0)
            )
            invoice = MInvoice("open", total, 0, 0, [(total, start, end)])
            owner.invoices.append(invoice)
            self.pay(owner, invoice, used, card)
        expected["next_invoice"]["amount"] = usd(net_of_credit(total, owner.balance))
        assert self.read_quote(created["last_change"]) == expected
        status = "trialing" if trial else "active"
        owner.sub = MSub(
            created["id"], plan, cycle, status, chosen, price, anchor, index, start, end, trial_end
        )
        owner.sub.rate = owner.rate

    @precondition(lambda self: any(owner.sub for owner in self.owners))
    @rule(who=st.integers(0, 1), pick=st.integers(0, 63), fresh=st.booleans())
    def add_camera(self, who: int, pick: int, fresh: bool) -> None:
        """C2, P2, P3, C3: adding a Plus camera is a prorated change; Premium is flat and
        refuses an 11th; past_due refuses changes."""
        owner = self.subscribed_owner(who)
        sub = owner.sub
        assert sub is not None
        free = [c for c in owner.cameras if c.id not in sub.seats]
        pool = free if fresh and free else owner.cameras
        camera = pool[pick % len(pool)]
        body = {"camera_id": camera.id}
        response = self.act(
            owner,
            "POST",
            "/v1/subscription/cameras",
            body,
            {"action": "add_camera", **body},
        )
        problems: set[Problem] = set()
        if sub.status == "past_due":
            problems.add((409, "subscription_past_due"))
        if camera.id in sub.seats:
            problems.add((409, "camera_subscribed"))
        elif sub.plan == "premium" and len(sub.seats) + 1 > PREMIUM_MAX:
            problems.add((409, "premium_camera_limit"))
        self.finish_change(owner, response, problems, sub.plan, [*sub.seats, camera.id])

    @precondition(lambda self: any(owner.sub for owner in self.owners))
    @rule(who=st.integers(0, 1), pick=st.integers(0, 63))
    def remove_camera(self, who: int, pick: int) -> None:
        """C3: a prorated credit on Plus, nothing on Premium; the last camera is a cancel."""
        owner = self.subscribed_owner(who)
        sub = owner.sub
        assert sub is not None
        camera_id = sub.seats[pick % len(sub.seats)]
        path = f"/v1/subscription/cameras/{camera_id}"
        preview = {"action": "remove_camera", "camera_id": camera_id}
        if len(sub.seats) == 1:
            self.finish_cancel(owner, self.act(owner, "DELETE", path, None, preview))
            return
        response = self.act(owner, "DELETE", path, None, preview)
        problems: set[Problem] = set()
        if sub.status == "past_due":
            problems.add((409, "subscription_past_due"))
        remaining = [seat for seat in sub.seats if seat != camera_id]
        self.finish_change(owner, response, problems, sub.plan, remaining)

    @precondition(lambda self: any(owner.sub for owner in self.owners))
    @rule(
        who=st.integers(0, 1),
        tweak=st.sampled_from(["same", "add", "drop"]),
        pick=st.integers(0, 63),
    )
    def change_plan(self, who: int, tweak: str, pick: int) -> None:
        """C2, P1, P2: Premium <-> Plus in the same cycle, with the camera set kept, grown
        or shrunk by one; the new type is valued at the catalog price at the change."""
        owner = self.subscribed_owner(who)
        sub = owner.sub
        assert sub is not None
        plan = "plus" if sub.plan == "premium" else "premium"
        seats = self.tweak(owner, sub, tweak, pick)
        body = {"plan": plan, "cycle": sub.cycle, "camera_ids": seats}
        response = self.act(
            owner, "POST", "/v1/subscription/change", body, {"action": "change", **body}
        )
        problems: set[Problem] = set()
        if sub.status == "past_due":
            problems.add((409, "subscription_past_due"))
        if plan == "premium" and len(seats) > PREMIUM_MAX:
            problems.add((409, "premium_camera_limit"))
        self.finish_change(owner, response, problems, plan, seats)

    @precondition(lambda self: any(owner.sub for owner in self.owners))
    @rule(
        who=st.integers(0, 1),
        same_plan=st.booleans(),
        tweak=st.sampled_from(["same", "add", "drop"]),
        pick=st.integers(0, 63),
    )
    def change_cycle(self, who: int, same_plan: bool, tweak: str, pick: int) -> None:
        """P5: a cycle change is a cancel (prorated refund of the unused part, the balance
        kept) plus a new subscription with a new id whose first invoice the balance pays
        first; during a trial the new one stays trialing with the same trial_end."""
        owner = self.subscribed_owner(who)
        sub = owner.sub
        assert sub is not None
        plan = sub.plan if same_plan else ("plus" if sub.plan == "premium" else "premium")
        cycle = "annual" if sub.cycle == "monthly" else "monthly"
        seats = self.tweak(owner, sub, tweak, pick)
        body = {"plan": plan, "cycle": cycle, "camera_ids": seats}
        response = self.act(
            owner, "POST", "/v1/subscription/change", body, {"action": "change", **body}
        )
        problems: set[Problem] = set()
        if sub.status == "past_due":
            problems.add((409, "subscription_past_due"))
        if plan == "premium" and len(seats) > PREMIUM_MAX:
            problems.add((409, "premium_camera_limit"))
        price = gross(PRICES[plan, cycle], owner.rate)
        total = value(plan, len(seats), price)
        amount = refunded = rest = used = card = 0
        if sub.status == "active":
            amount = prorate(sub.value, unused(sub.start, sub.end, self.now))
            refunded = min(amount, owner.charged - owner.refunded)
            rest = amount - refunded
            used, card = self.settle_with(owner.balance + rest, total)
        if not problems and (problem := self.card_problem(owner, card)) is not None:
            problems.add(problem)
        if problems:
            event(f"cycle change refused: {sorted(problems)}")
            self.expect_problem(response, problems)
            return
        event(f"cycle change while {sub.status}")
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["id"] != sub.id
        erased = self.erasures(owner, [seat for seat in sub.seats if seat not in seats])
        if sub.status == "trialing":
            assert sub.trial_end is not None
            owner.sub = MSub(
                created["id"],
                plan,
                cycle,
                "trialing",
                seats,
                price,
                sub.trial_end,
                -1,
                self.now,
                sub.trial_end,
                sub.trial_end,
                owner.rate,
            )
            expected = self.quote(
                balance_after=owner.balance,
                next_invoice=(sub.trial_end, net_of_credit(total, owner.balance)),
                erased=erased,
            )
        else:
            if refunded:
                owner.notes.append(("refund", refunded))
                owner.refunded += refunded
            if rest:
                owner.notes.append(("credit", rest))
                owner.balance += rest
            end = add_months(self.now, CYCLE_MONTHS[cycle])
            invoice = MInvoice("open", total, 0, 0, [(total, self.now, end)])
            owner.invoices.append(invoice)
            self.pay(owner, invoice, used, card)
            owner.sub = MSub(
                created["id"],
                plan,
                cycle,
                "active",
                seats,
                price,
                self.now,
                0,
                self.now,
                end,
                None,
                owner.rate,
            )
            expected = self.quote(
                charge=card,
                refund=refunded,
                added=rest,
                used=used,
                balance_after=owner.balance,
                next_invoice=(end, net_of_credit(total, owner.balance)),
                erased=erased,
            )
        assert self.read_quote(created["last_change"]) == expected

    @staticmethod
    def tweak(owner: MOwner, sub: MSub, tweak: str, pick: int) -> list[str]:
        """The subscription's cameras, kept, grown or shrunk by one."""
        seats = list(sub.seats)
        free = [c.id for c in owner.cameras if c.id not in sub.seats]
        if tweak == "add" and free:
            seats.append(free[pick % len(free)])
        elif tweak == "drop" and len(seats) > 1:
            seats.pop(pick % len(seats))
        return seats

    def finish_change(
        self,
        owner: MOwner,
        response: Response,
        problems: set[Problem],
        plan: str,
        seats: list[str],
    ) -> None:
        sub = owner.sub
        assert sub is not None
        money, unit = self.change_money(owner, plan, len(seats))
        if not problems and (problem := self.card_problem(owner, money.card)) is not None:
            problems.add(problem)
        if problems:
            event(f"change refused: {sorted(problems)}")
            self.expect_problem(response, problems)
            return
        event(f"change {sub.status}: {'invoice' if money.net >= 0 else 'credit'}")
        assert response.status_code == 200, response.text
        removed = [seat for seat in sub.seats if seat not in seats]
        upcoming = net_of_credit(
            value(plan, len(seats), gross(PRICES[plan, sub.cycle], owner.rate)),
            money.balance_after,
        )
        expected = self.quote(
            charge=money.card,
            added=money.added,
            used=money.used,
            balance_after=money.balance_after,
            next_invoice=(sub.end, upcoming),
            erased=self.erasures(owner, removed),
        )
        assert self.read_quote(response.json()["last_change"]) == expected
        self.apply_change(owner, money, plan, unit, seats)
        assert response.json()["id"] == sub.id
        assert sorted(response.json()["camera_ids"]) == sorted(seats)

    @precondition(lambda self: any(owner.sub for owner in self.owners))
    @rule(
        who=st.integers(0, 1),
        pick=st.integers(0, 63),
        crash=st.sampled_from(["before_gateway", "after_gateway", "at_commit"]),
    )
    def add_camera_and_crash(self, who: int, pick: int, crash: str) -> None:
        """M4: the process dies during a camera's addition that the card pays: the change
        does not happen; a charge the gateway made is for the reconciler to refund."""
        owner = self.subscribed_owner(who)
        sub = owner.sub
        assert sub is not None
        free = [c for c in owner.cameras if c.id not in sub.seats]
        if not free or sub.status == "past_due" or owner.card != "good":
            event("crash skipped: nothing the card would pay")
            return
        if sub.plan == "premium" and len(sub.seats) + 1 > PREMIUM_MAX:
            event("crash skipped: nothing the card would pay")
            return
        camera = free[pick % len(free)]
        money, _ = self.change_money(owner, sub.plan, len(sub.seats) + 1)
        # A crash at the gateway needs a card charge; one at the commit, an invoice.
        invoiced = bool(money.lines) and money.net >= 0
        if not invoiced or (money.card <= 0 and crash != "at_commit"):
            event("crash skipped: nothing the card would pay")
            return
        event(f"crash {crash}")
        if crash == "at_commit":
            crashy_context = self.context
        else:
            when: When = "before" if crash == "before_gateway" else "after"
            gateway = CrashingGateway(self.context.gateway, "charge", when)
            crashy_context = with_gateway(self.context, gateway)
        if owner.token_expires <= self.now:
            self.sign_in(owner)
        with TestClient(create_app(crashy_context), raise_server_exceptions=False) as crashy:
            body = {"camera_id": camera.id}
            if crash == "at_commit":
                with commit_fails_once_with_an_invoice(self.context):
                    response = crashy.post(
                        "/v1/subscription/cameras", json=body, headers=owner.headers
                    )
            else:
                response = crashy.post("/v1/subscription/cameras", json=body, headers=owner.headers)
        assert response.status_code == 500, response.text

    @precondition(lambda self: self.owners)
    @rule(who=st.integers(0, 1))
    def cancel(self, who: int) -> None:
        owner = self.pick_owner(who)
        preview = {"action": "cancel"}
        self.finish_cancel(owner, self.act(owner, "DELETE", "/v1/subscription", None, preview))

    def finish_cancel(self, owner: MOwner, response: Response) -> None:
        """C1, T3, M5, M9: a trial moves no money; an active subscription refunds the unused
        part plus the balance; past_due voids the open invoice, refunds only the balance."""
        sub = owner.sub
        if sub is None:
            self.expect_problem(response, {(404, "not_found")})
            return
        assert response.status_code == 200, response.text
        event(f"cancel while {sub.status}{' with balance' if owner.balance else ''}")
        erased = self.erasures(owner, sub.seats)
        balance = owner.balance
        if sub.status == "trialing":
            expected = self.quote(balance_after=balance, next_invoice=None, erased=erased)
        else:
            amount = 0
            if sub.status == "active":
                amount = prorate(sub.value, unused(sub.start, sub.end, self.now))
            if sub.open_invoice is not None:
                sub.open_invoice.status = "void"
            refunded, rest = self.refund(owner, amount)
            expected = self.quote(
                refund=refunded,
                added=rest,
                balance_after=owner.balance,
                next_invoice=None,
                erased=erased,
            )
        owner.sub = None
        assert self.read_quote(response.json()) == expected

    # ---- rules: time -----------------------------------------------------------------------

    def move_clock(self, to: datetime) -> None:
        expected = self.run_model_jobs(to)
        self.clock.set(to)
        ran = run_due(self.context, to)
        # run_due also counts reminders (notifications), which the model leaves out.
        assert ran >= expected, f"run_due ran {ran} jobs, the model expected {expected}"
        with self.context.sessions() as session:
            pending = session.scalars(
                select(RefundOutbox).where(RefundOutbox.status == OutboxStatus.PENDING)
            ).all()
        assert not pending, "the refund outbox still holds refunds after a job run"

    @rule(
        seconds=st.one_of(
            st.integers(3600, 48 * 3600),
            st.integers(24 * 3600, 40 * 24 * 3600),
        )
    )
    def advance(self, seconds: int) -> None:
        self.move_clock(self.now + timedelta(seconds=seconds))

    @precondition(lambda self: any(owner.sub for owner in self.owners))
    @rule(offset=st.sampled_from([-1, 0, 1, 3600]))
    def advance_to_next_due(self, offset: int) -> None:
        """Boundaries: just before, at and just after a renewal, trial end or retry."""
        dues = [self.due(owner.sub) for owner in self.owners if owner.sub is not None]
        target = min(due for due in dues if due is not None) + timedelta(seconds=offset)
        if target > self.now:
            self.move_clock(target)

    # ---- invariants ------------------------------------------------------------------------

    @invariant()
    def service_matches_model(self) -> None:
        numbers: list[str] = []
        for owner in self.owners:
            numbers.extend(self.check_owner(owner))
        self.check_numbers(numbers)
        self.check_card_payments()
        self.check_gateway()

    def check_owner(self, owner: MOwner) -> list[str]:
        # M9: the balance is never negative and is what the model says.
        balance = self.call(owner, "GET", "/v1/balance").json()["credit"]
        assert owner.balance >= 0
        assert balance == usd(owner.balance)
        # T1: one trial per account, ever.
        me = self.call(owner, "GET", "/v1/me").json()
        assert me["trial_eligible"] is (not owner.trial_used)
        self.check_subscription(owner)
        self.check_cameras(owner)
        return self.check_money(owner)

    def check_subscription(self, owner: MOwner) -> None:
        """P1, P2, P5: at most one live subscription, of one type, as the model has it."""
        response = self.call(owner, "GET", "/v1/subscription")
        sub = owner.sub
        if sub is None:
            self.expect_problem(response, {(404, "not_found")})
            return
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["plan"], body["cycle"], body["status"]) == (
            sub.id,
            sub.plan,
            sub.cycle,
            sub.status,
        )
        assert sorted(body["camera_ids"]) == sorted(sub.seats)
        assert len(body["camera_ids"]) <= PREMIUM_MAX or body["plan"] == "plus"
        assert (parse(body["current_period_start"]), parse(body["current_period_end"])) == (
            sub.start,
            sub.end,
        )
        trial_end = body["trial_end"] and parse(body["trial_end"])
        assert trial_end == sub.trial_end
        if sub.status != "past_due":
            price = gross(PRICES[sub.plan, sub.cycle], owner.rate)
            upcoming = value(sub.plan, len(sub.seats), price)
            assert body["next_invoice"] == {
                "date": iso(sub.end),
                "amount": usd(net_of_credit(upcoming, owner.balance)),
            }

    def check_cameras(self, owner: MOwner) -> None:
        """F1-F5, T4, M5: each camera's entitlement is what the model resolves."""
        items = self.call(owner, "GET", "/v1/cameras").json()["items"]
        assert sorted(item["id"] for item in items) == sorted(c.id for c in owner.cameras)
        for item in items:
            camera = owner.camera(item["id"])
            source, hours = self.entitlement(owner, camera)
            entitlement = item["entitlement"]
            ends = free_plan_ends_at(camera)
            assert (
                entitlement["source"],
                entitlement["history_hours"],
                entitlement["cloud_recording"],
                entitlement["free_plan_ends_at"] and parse(entitlement["free_plan_ends_at"]),
            ) == (source, hours, source != "none", ends), (camera, self.now)

    def check_money(self, owner: MOwner) -> list[str]:
        """M8, M6, C1, M5: every invoice and credit note the model expects, and no other;
        totals are the sums of their lines; refunds never exceed card charges; an open
        invoice exists only while the subscription is past_due."""
        invoices = self.call(owner, "GET", "/v1/invoices").json()["items"]
        notes = self.call(owner, "GET", "/v1/credit-notes").json()["items"]
        for document in [*invoices, *notes]:
            assert document["total"]["amount"] == sum(
                line["amount"]["amount"] for line in document["lines"]
            )
            self.check_tax(owner, document)
        # Issue 14: the tax credited or refunded never exceeds the tax of paid invoices.
        tax_charged = sum(i["tax_total"]["amount"] for i in invoices if i["status"] == "paid")
        assert sum(n["tax_total"]["amount"] for n in notes) <= tax_charged
        got = Counter(
            (
                invoice["status"],
                invoice["total"]["amount"],
                invoice["credit_used"]["amount"],
                invoice["charged"]["amount"],
                tuple(
                    (
                        line["amount"]["amount"],
                        parse(line["period_start"]),
                        parse(line["period_end"]),
                    )
                    for line in invoice["lines"]
                ),
            )
            for invoice in invoices
        )
        assert got == Counter(invoice.key() for invoice in owner.invoices), (
            sorted(got.items(), key=repr),
            [invoice.key() for invoice in owner.invoices],
        )
        assert Counter((n["kind"], n["total"]["amount"]) for n in notes) == Counter(owner.notes)
        charged = sum(i["charged"]["amount"] for i in invoices if i["status"] == "paid")
        refunded = sum(n["total"]["amount"] for n in notes if n["kind"] == "refund")
        assert refunded <= charged
        assert (charged, refunded) == (owner.charged, owner.refunded)
        live_past_due = owner.sub is not None and owner.sub.status == "past_due"
        assert sum(i["status"] == "open" for i in invoices) == (1 if live_past_due else 0), (
            "an open invoice outlived its past_due subscription"
        )
        return [document["number"] for document in [*invoices, *notes]]

    @staticmethod
    def check_tax(owner: MOwner, document: dict[str, Any]) -> None:
        """Issue 14 item 1, M6: each line's net is its gross / (1 + its rate), rounded
        half-even once, and its tax the rest; the document's totals are the sums of its
        lines'. (Each line's gross is the model's, priced at the rate of its period.)"""
        for line in document["lines"]:
            amount, net, tax = (line[key]["amount"] for key in ("amount", "net", "tax"))
            rate = Fraction(line["tax_rate"] or "0") / 100
            assert net == round(Fraction(amount) / (1 + rate)), line
            assert net + tax == amount, line
        for total, key in (("net_total", "net"), ("tax_total", "tax")):
            lines = document["lines"]
            assert document[total]["amount"] == sum(line[key]["amount"] for line in lines)

    @staticmethod
    def check_numbers(numbers: list[str]) -> None:
        """M8: invoice and credit-note numbers are gapless and sequential across accounts."""
        for prefix in ("INV", "CN"):
            found = sorted(n for n in numbers if n.startswith(f"{prefix}-"))
            assert found == [f"{prefix}-{i:06d}" for i in range(1, len(found) + 1)], found

    def check_gateway(self) -> None:
        """M4, for all accounts: the gateway's books = ours + what pending attempts took;
        no attempt is left pending past the reconciler's wait (the jobs ran since)."""
        charges = {
            key: (charge_id, amount) for charge_id, key, amount, _ in sandbox_charges(self.context)
        }
        refunds = sandbox_refunds(self.context)
        refunded_of = Counter[str]()
        for _, charge_id, _, amount, _ in refunds:
            refunded_of[charge_id] += amount
        with self.context.sessions() as session:
            payments = session.scalars(select(CardPayment)).all()
            done = session.scalars(
                select(RefundOutbox).where(
                    RefundOutbox.status == OutboxStatus.DONE,
                    RefundOutbox.card_payment_id.is_not(None),
                )
            ).all()
            attempts = session.scalars(select(PaymentAttempt)).all()
        gateway_net = sum(amount for _, amount in charges.values()) - sum(refunded_of.values())
        books_net = sum(p.amount for p in payments) - sum(row.amount for row in done)
        in_flight = 0
        for attempt in attempts:
            if attempt.status in (AttemptStatus.PENDING, AttemptStatus.REVERSING):
                assert attempt.created_at > self.now - RECONCILE_AFTER, (
                    f"attempt {attempt.id} still {attempt.status} after the reconciler ran"
                )
                if attempt.idempotency_key in charges:
                    charge_id, amount = charges[attempt.idempotency_key]
                    in_flight += amount - refunded_of[charge_id]
        assert gateway_net == books_net + in_flight, (gateway_net, books_net, in_flight)

    def check_card_payments(self) -> None:
        """P1 in the tables; M2, M4, M6: each card charge takes refunds up to its amount,
        and every refund decided was carried out through the gateway."""
        with self.context.sessions() as session:
            live = session.execute(
                select(Subscription.account_id, func.count())
                .where(Subscription.ended_at.is_(None))
                .group_by(Subscription.account_id)
            ).all()
            assert all(count == 1 for _, count in live)
            payments = session.scalars(select(CardPayment)).all()
            rows = session.scalars(select(RefundOutbox)).all()
        for payment in payments:
            assert 0 <= payment.refunded <= payment.amount
            mine = [row for row in rows if row.card_payment_id == payment.id]
            assert payment.refunded == sum(row.amount for row in mine)
            charge = self.context.gateway.get_charge(payment.gateway_charge_id)
            assert charge.amount.amount == payment.amount
            # Refunds reach the gateway after the commit (M4): the answer's own outbox run,
            # or the next job run for calls that leave that to the jobs.
            done = sum(row.amount for row in mine if row.status is OutboxStatus.DONE)
            assert charge.amount_refunded.amount == done


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def test_billing_matches_an_independent_model(context: AppContext, clock: FixedClock) -> None:
    # One client (one event-loop portal) for every example; each example empties the tables.
    with TestClient(create_app(context), raise_server_exceptions=True) as client:

        class Machine(BillingMachine):
            def __init__(self) -> None:
                super().__init__(context, clock, client)

        SEEN.clear()
        try:
            run_state_machine_as_test(Machine, settings=SETTINGS)
        finally:
            print("\nsituations reached:", *sorted(SEEN.items()), sep="\n  ")


def test_c1_m5_cancel_while_past_due_voids_the_open_invoice(
    context: AppContext, clock: FixedClock
) -> None:
    """The shortest sequence the machine found for C1/M5: the first charge after a trial
    fails (past_due, one open invoice), the owner cancels: the open invoice must be voided
    (keeping its number), and nothing refunded for the unpaid period."""
    with TestClient(create_app(context), raise_server_exceptions=True) as client:
        state = BillingMachine(context, clock, client)
        try:
            state.first_owner(days=0, hours=0, card="declines", models=["KC120"])
            state.subscribe(who=0, plan="plus", cycle="monthly", trial=True, count=1, offset=0)
            state.service_matches_model()
            state.advance_to_next_due(offset=0)  # trial end: the first charge is declined
            state.service_matches_model()
            state.cancel(who=0)
            state.service_matches_model()
        finally:
            state.teardown()
