"""Races on one account against a real server (SPEC T1, P2, M4).

PostgreSQL only: a `kasacare serve` process with two workers on a fresh database, and real
concurrent connections from threads (bounded in number and in time). The rules hold because
an account's billing use cases run one at a time (a row lock), not because of timing luck.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from kasacare.kit.db import create_db_engine
from kasacare.payments.models import SandboxCharge
from kasacare.subscriptions.models import Subscription
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

#: Seconds any one request, and the whole race, may take before the test fails.
REQUEST_TIMEOUT = 45.0
RACE_TIMEOUT = 60.0

REPLAYED = "Idempotent-Replayed"
_serials = itertools.count(1)

Call = Callable[[httpx.Client], httpx.Response]


@dataclass(frozen=True)
class Server:
    url: str
    engine: Engine  # the server's database, for what the API does not show (sandbox books)


@dataclass(frozen=True)
class Owner:
    account_id: uuid.UUID
    headers: dict[str, str]
    card_token: str  # the sandbox token on file: its charges are this account's


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A two-worker `kasacare serve` on a fresh PostgreSQL database (skipped without one)."""
    directory = tmp_path_factory.mktemp("concurrency-postgresql")
    with fresh_database("postgresql", directory) as database_url:
        env = server_env(database_url, directory)
        engine = create_db_engine(database_url)
        try:
            with running_server(env, directory / "server.log", workers=2) as base:
                yield Server(base, engine)
        finally:
            engine.dispose()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as client:
        yield client


def _owner_with_card(http: httpx.Client) -> Owner:
    """A new owner (unique email) with a Visa card on file."""
    email = f"race-{uuid.uuid4().hex[:12]}@example.com"
    signup = http.post("/v1/accounts", json={"email": email, "password": PASSWORD, "country": "US"})
    assert signup.status_code == 201, signup.text
    signin = http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert signin.status_code == 200, signin.text
    headers = {"Authorization": f"Bearer {signin.json()['access_token']}"}
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    token = http.post("/v1/sandbox/tokens", json=card)
    assert token.status_code == 201, token.text
    attached = http.put(
        "/v1/payment-method", json={"token": token.json()["token"]}, headers=headers
    )
    assert attached.status_code == 200, attached.text
    me = http.get("/v1/me", headers=headers).json()
    return Owner(uuid.UUID(me["id"]), headers, token.json()["token"])


def _cameras(http: httpx.Client, owner: Owner, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        serial = f"RACE{uuid.uuid4().hex[:6]}{next(_serials):04d}"
        response = http.post(
            "/v1/cameras",
            json={"model": "KC120", "serial": serial, "name": "Porch"},
            headers=owner.headers,
        )
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids


def _race(server: Server, calls: Sequence[Call]) -> list[httpx.Response]:
    """Fire the calls at once, one thread and one connection each; answers in call order."""
    barrier = threading.Barrier(len(calls), timeout=RACE_TIMEOUT)

    def run(call: Call) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as client:
            barrier.wait()
            response = call(client)
            response.read()
            return response

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=RACE_TIMEOUT) for future in futures]


def _subscription_count(server: Server, owner: Owner) -> int:
    """Every subscription row of the account, live or ended."""
    query = (
        select(func.count())
        .select_from(Subscription)
        .where(Subscription.account_id == owner.account_id)
    )
    with server.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _gateway_charges(server: Server, owner: Owner) -> list[tuple[int, str]]:
    """What the sandbox gateway charged to the owner's card: (amount, currency) each."""
    query = select(SandboxCharge.amount, SandboxCharge.currency).where(
        SandboxCharge.token_id == owner.card_token
    )
    with server.engine.connect() as connection:
        return [(int(amount), str(currency)) for amount, currency in connection.execute(query)]


def _codes(responses: Sequence[httpx.Response]) -> list[str]:
    return [str(response.json().get("code")) for response in responses]


def test_t1_ten_parallel_trial_starts_on_one_account_start_one_trial(
    server: Server, http: httpx.Client
) -> None:
    owner = _owner_with_card(http)
    # One camera per request, so that no camera check can hide a second trial.
    cameras = _cameras(http, owner, 10)

    def start_trial(camera_id: str) -> Call:
        body = {"plan": "plus", "cycle": "monthly", "camera_ids": [camera_id], "trial": True}
        return lambda client: client.post("/v1/subscription", json=body, headers=owner.headers)

    answers = _race(server, [start_trial(camera) for camera in cameras])

    created = [answer for answer in answers if answer.status_code == 201]
    refused = [answer for answer in answers if answer.status_code != 201]
    assert len(created) == 1, [answer.text for answer in answers]
    assert {answer.status_code for answer in refused} == {409}, [a.text for a in refused]
    assert set(_codes(refused)) <= {"trial_already_used", "subscription_exists"}, _codes(refused)
    trial = created[0].json()
    assert trial["status"] == "trialing"
    assert _subscription_count(server, owner) == 1
    live = http.get("/v1/subscription", headers=owner.headers).json()
    assert (live["id"], live["status"], live["camera_ids"]) == (
        trial["id"],
        "trialing",
        trial["camera_ids"],
    )
    me = http.get("/v1/me", headers=owner.headers).json()
    assert me["trial_eligible"] is False
    # T4: a trial moves no money.
    assert http.get("/v1/invoices", headers=owner.headers).json()["items"] == []
    assert _gateway_charges(server, owner) == []


def test_p2_five_parallel_tenth_cameras_on_premium_add_exactly_one(
    server: Server, http: httpx.Client
) -> None:
    owner = _owner_with_card(http)
    cameras = _cameras(http, owner, 14)
    body = {"plan": "premium", "cycle": "monthly", "camera_ids": cameras[:9]}
    subscribed = http.post("/v1/subscription", json=body, headers=owner.headers)
    assert subscribed.status_code == 201, subscribed.text

    def add(camera_id: str) -> Call:
        return lambda client: client.post(
            "/v1/subscription/cameras", json={"camera_id": camera_id}, headers=owner.headers
        )

    # Cameras 10 to 14, each in its own request: only one of them fits under the limit.
    answers = _race(server, [add(camera) for camera in cameras[9:]])

    added = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    assert len(added) == 1, [answer.text for answer in answers]
    assert [answer.status_code for answer in refused] == [409] * 4, [a.text for a in refused]
    assert _codes(refused) == ["premium_camera_limit"] * 4
    tenth = cameras[9 + answers.index(added[0])]
    live = http.get("/v1/subscription", headers=owner.headers).json()
    assert len(live["camera_ids"]) == 10
    assert set(live["camera_ids"]) == {*cameras[:9], tenth}
    assert added[0].json()["camera_ids"] == live["camera_ids"]
    # Premium is flat: adding the 10th camera moves no money; only the 1099 subscribe invoice.
    invoices = http.get("/v1/invoices", headers=owner.headers).json()["items"]
    assert [(i["total"], i["charged"]) for i in invoices] == [(usd(1099), usd(1099))]
    assert _gateway_charges(server, owner) == [(1099, "USD")]


def test_m4_twenty_parallel_subscribes_with_one_key_make_one_subscription_and_one_charge(
    server: Server, http: httpx.Client
) -> None:
    owner = _owner_with_card(http)
    (camera,) = _cameras(http, owner, 1)
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": [camera]}
    headers = {**owner.headers, "Idempotency-Key": f"subscribe-{uuid.uuid4().hex}"}

    def subscribe(client: httpx.Client) -> httpx.Response:
        return client.post("/v1/subscription", json=body, headers=headers)

    answers = _race(server, [subscribe] * 20)

    assert [answer.status_code for answer in answers] == [201] * 20, [a.text for a in answers]
    assert len({answer.content for answer in answers}) == 1  # byte for byte the same answer
    assert sum(REPLAYED not in answer.headers for answer in answers) == 1  # one ran
    created = answers[0].json()
    assert _subscription_count(server, owner) == 1
    live = http.get("/v1/subscription", headers=owner.headers).json()
    assert (live["id"], live["status"], live["camera_ids"]) == (created["id"], "active", [camera])
    # One Plus seat, monthly: 399, charged once.
    (invoice,) = http.get("/v1/invoices", headers=owner.headers).json()["items"]
    assert (invoice["status"], invoice["total"], invoice["charged"]) == (
        "paid",
        usd(399),
        usd(399),
    )
    assert _gateway_charges(server, owner) == [(399, "USD")]
