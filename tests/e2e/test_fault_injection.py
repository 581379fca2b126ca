"""A real process killed (SIGKILL) at each step of a charge loses no money (SPEC M4, issue 10).

PostgreSQL, a real `kasacare serve` process. For each money-moving operation (subscribe, add
a camera, cycle change, renewal, cancel refund) and each step of it (before the gateway,
after the gateway, before our commit, after our commit; for a refund, before and after the
gateway's refund), the test arms the failpoint in the running process
(`PUT /v1/admin/failpoints/{name}`, `kasacare.kit.failpoints`), makes the call that reaches
it, sees the process die, starts it again on the same database, retries what the owner
would retry, and lets the jobs run (renewals, refund outbox, reconciler) by moving the test
clock. Then, for every account:

    gateway charges - gateway refunds = invoices paid by card - refunds recorded

to the cent, no attempt is left without an outcome, every decided refund is done, and the
owner got the change once (one live subscription, one paid invoice per thing bought).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from kasacare.billing.models import (
    AttemptStatus,
    CardPayment,
    Invoice,
    InvoiceStatus,
    OutboxStatus,
    PaymentAttempt,
    RefundOutbox,
)
from kasacare.kit.db import create_db_engine
from kasacare.payments.models import PaymentMethod, SandboxCharge, SandboxRefund
from kasacare.subscriptions.models import Subscription, SubscriptionCamera
from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.e2e.server import VENV_BIN, _wait_until_up, free_port, server_env
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

OPERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHARGE_STEPS = ("charge.before_gateway", "charge.after_gateway", "charge.before_commit")
#: Enough for a failed job step's back-off (5 min) and the reconciler's wait (10 min).
SETTLE_SECONDS = 11 * 60


class Service:
    """`kasacare serve` on one database and port, started again after each crash."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log_path = self.log_dir / f"server-{self.starts}.log"
        command = [str(VENV_BIN / "kasacare"), "serve", "--host", "127.0.0.1"]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_until_up(self.url, self.process, log_path)

    def died_of_sigkill(self) -> bool:
        assert self.process is not None
        return self.process.wait(timeout=30) == -9

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@dataclass
class Owner:
    account_id: uuid.UUID
    headers: dict[str, str]
    cameras: list[str]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("fault-injection")
    with fresh_database("postgresql", directory) as url:
        yield url, directory


@pytest.fixture(scope="module")
def service(database: tuple[str, Path]) -> Iterator[Service]:
    url, directory = database
    service = Service(server_env(url, directory), directory)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def engine(database: tuple[str, Path]) -> Iterator[Engine]:
    engine = create_db_engine(database[0])
    yield engine
    engine.dispose()


def _client(service: Service) -> httpx.Client:
    return httpx.Client(base_url=service.url, timeout=60)


def _owner(service: Service, cameras: int) -> Owner:
    with _client(service) as http:
        email = f"crash-{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": email, "password": PASSWORD, "country": "US"}
        assert http.post("/v1/accounts", json=body).status_code == 201
        token = http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
        card_token = http.post("/v1/sandbox/tokens", json=card).json()["token"]
        put = http.put("/v1/payment-method", json={"token": card_token}, headers=headers)
        assert put.status_code == 200, put.text
        ids = []
        for _ in range(cameras):
            serial = f"CR{uuid.uuid4().hex[:10]}"
            camera = {"model": "KC120", "serial": serial, "name": "Porch"}
            response = http.post("/v1/cameras", json=camera, headers=headers)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        me = http.get("/v1/me", headers=headers).json()
        return Owner(uuid.UUID(me["id"]), headers, ids)


def _subscribe(http: httpx.Client, owner: Owner, cameras: list[str]) -> httpx.Response:
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": cameras}
    return http.post("/v1/subscription", json=body, headers=owner.headers)


def _add(http: httpx.Client, owner: Owner) -> httpx.Response:
    body = {"camera_id": owner.cameras[1]}
    return http.post("/v1/subscription/cameras", json=body, headers=owner.headers)


def _to_annual(http: httpx.Client, owner: Owner) -> httpx.Response:
    body = {"plan": "plus", "cycle": "annual", "camera_ids": owner.cameras[:1]}
    return http.post("/v1/subscription/change", json=body, headers=owner.headers)


def _cancel(http: httpx.Client, owner: Owner) -> httpx.Response:
    return http.delete("/v1/subscription", headers=owner.headers)


def _advance(http: httpx.Client, seconds: int) -> httpx.Response:
    return http.post("/v1/admin/clock/advance", json={"seconds": seconds}, headers=OPERATOR)


Call = Callable[[httpx.Client, Owner], httpx.Response]


@dataclass(frozen=True)
class Case:
    """An operation: its setup (subscribed or not), the call that crashes, and the state
    the owner ends in once it is retried where it did not happen."""

    setup: Call | None
    call: Call
    retry: Call | None
    #: (plan cycle, camera count) of the live subscription at the end; None: none.
    live: tuple[str, int] | None
    #: Paid invoices with a card charge at the end.
    paid: int


def _subscribe_first(http: httpx.Client, owner: Owner) -> httpx.Response:
    return _subscribe(http, owner, owner.cameras[:1])


def _renew(http: httpx.Client, owner: Owner) -> httpx.Response:
    return _advance(http, 32 * 86400)  # past the monthly period's end: the renewal runs


CASES: dict[str, Case] = {
    "subscribe": Case(None, _subscribe_first, _subscribe_first, ("monthly", 1), 1),
    "add_camera": Case(_subscribe_first, _add, _add, ("monthly", 2), 2),
    "cycle_change": Case(_subscribe_first, _to_annual, _to_annual, ("annual", 1), 2),
    "renewal": Case(_subscribe_first, _renew, _renew, ("monthly", 1), 2),
    "cancel": Case(_subscribe_first, _cancel, _cancel, None, 1),
}
STEPS = {
    "subscribe": (*CHARGE_STEPS, "commit.after"),
    "add_camera": (*CHARGE_STEPS, "commit.after"),
    "cycle_change": (*CHARGE_STEPS, "commit.after", "refund.before_gateway"),
    "renewal": (*CHARGE_STEPS, "commit.after"),
    "cancel": ("commit.after", "refund.before_gateway", "refund.after_gateway"),
}


@pytest.mark.parametrize(
    ("operation", "step"), [(op, step) for op, steps in STEPS.items() for step in steps]
)
def test_m4_a_process_killed_at_any_step_of_a_charge_loses_no_money(
    service: Service, engine: Engine, operation: str, step: str
) -> None:
    case = CASES[operation]
    owner = _owner(service, cameras=2)
    with _client(service) as http:
        if case.setup is not None:
            response = case.setup(http, owner)
            assert response.status_code < 300, response.text
        armed = http.put(f"/v1/admin/failpoints/{step}", headers=OPERATOR)
        assert armed.status_code == 204, armed.text
        with pytest.raises(httpx.TransportError):
            case.call(http, owner)  # the process dies before it answers
    assert service.died_of_sigkill()

    service.start()
    with _client(service) as http:
        settled = _advance(http, SETTLE_SECONDS)  # jobs: renewals, refunds, reconciler
        assert settled.status_code == 200, settled.text
        if case.retry is not None and not _done(engine, owner, case):
            retried = case.retry(http, owner)  # the owner tries again: it happens once
            assert retried.status_code < 300, retried.text
            assert _advance(http, SETTLE_SECONDS).status_code == 200

    # The crash may have hit another account's job (every live plan renews on the way):
    # the books balance for every account, and this owner got the change once.
    with engine.connect() as connection:
        accounts = connection.execute(select(PaymentMethod.account_id)).scalars().all()
    for account_id in accounts:
        _assert_books_balance(engine, account_id)
    assert _live(engine, owner) == case.live
    assert _paid(engine, owner) == case.paid


def _done(engine: Engine, owner: Owner, case: Case) -> bool:
    """Whether the crashed call's change was committed (then the owner has nothing to
    retry): the live subscription already is the end state."""
    return _live(engine, owner) == case.live and _paid(engine, owner) == case.paid


def _live(engine: Engine, owner: Owner) -> tuple[str, int] | None:
    with engine.connect() as connection:
        live = connection.execute(
            select(Subscription.id, Subscription.cycle).where(
                Subscription.account_id == owner.account_id, Subscription.ended_at.is_(None)
            )
        ).one_or_none()
        if live is None:
            return None
        seats = connection.execute(
            select(func.count()).where(
                SubscriptionCamera.subscription_id == live.id,
                SubscriptionCamera.removed_at.is_(None),
            )
        ).scalar_one()
        return (live.cycle.value, int(seats))


def _paid(engine: Engine, owner: Owner) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(
                    Invoice.account_id == owner.account_id,
                    Invoice.status == InvoiceStatus.PAID,
                    Invoice.charged > 0,
                )
            ).scalar_one()
        )


def _assert_books_balance(engine: Engine, account_id: uuid.UUID) -> None:
    with engine.connect() as connection:
        token = connection.execute(
            select(PaymentMethod.gateway_token).where(PaymentMethod.account_id == account_id)
        ).scalar_one()
        charges = connection.execute(
            select(SandboxCharge.id, SandboxCharge.amount).where(SandboxCharge.token_id == token)
        ).all()
        charged = sum(amount for _, amount in charges)
        refunded = int(
            connection.execute(
                select(func.coalesce(func.sum(SandboxRefund.amount), 0)).where(
                    SandboxRefund.charge_id.in_([charge_id for charge_id, _ in charges])
                )
            ).scalar_one()
        )
        paid_by_card = int(
            connection.execute(
                select(func.coalesce(func.sum(Invoice.charged), 0)).where(
                    Invoice.account_id == account_id, Invoice.status == InvoiceStatus.PAID
                )
            ).scalar_one()
        )
        payments = connection.execute(
            select(CardPayment.amount, CardPayment.refunded).where(
                CardPayment.account_id == account_id
            )
        ).all()
        recorded_refunds = sum(refunded for _, refunded in payments)
        open_refunds = connection.execute(
            select(func.count()).where(
                RefundOutbox.card_payment_id.in_(
                    select(CardPayment.id).where(CardPayment.account_id == account_id)
                ),
                RefundOutbox.status != OutboxStatus.DONE,
            )
        ).scalar_one()
        unsettled = connection.execute(
            select(PaymentAttempt.id, PaymentAttempt.status).where(
                PaymentAttempt.account_id == account_id,
                PaymentAttempt.status.in_([AttemptStatus.PENDING, AttemptStatus.REVERSING]),
            )
        ).all()
    detail: dict[str, Any] = {
        "account": account_id,
        "charges": charges,
        "gateway_refunds": refunded,
        "payments": payments,
    }
    assert unsettled == [], detail
    assert open_refunds == 0, detail
    # Every card payment is a gateway charge of ours, recorded once.
    assert sum(amount for amount, _ in payments) == paid_by_card, detail
    # Gateway charges - gateway refunds = invoices paid by card - refunds recorded.
    assert charged - refunded == paid_by_card - recorded_refunds, detail


def test_an_unknown_failpoint_is_refused_and_arms_nothing(service: Service) -> None:
    with _client(service) as http:
        response = http.put("/v1/admin/failpoints/charge.sometimes", headers=OPERATOR)
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
        assert "charge.after_gateway" in response.json()["names"]
        assert http.get("/healthz").status_code == 200
