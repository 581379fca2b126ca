"""Idempotency-Key on state-changing calls (SPEC section 3, in the spirit of M4).

Through the real app on both backends; the concurrency test fires at a real server process.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from kasacare.app import create_app
from kasacare.context import AppContext
from kasacare.kit import idempotency
from kasacare.kit.clock import FixedClock
from kasacare.kit.errors import KasaCareError
from kasacare.kit.idempotency_models import IdempotencyKey
from tests.conftest import ADMIN_TOKEN, START
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD, new_serial, owner

REPLAYED = "Idempotent-Replayed"


def _camera_body(serial: str | None = None) -> dict[str, str]:
    return {"model": "KC120", "serial": serial or new_serial("IDEM"), "name": "Porch"}


def _post_camera(
    client: TestClient, headers: dict[str, str], body: dict[str, str], key: str | None
) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key is not None else {}
    response: httpx.Response = client.post("/v1/cameras", json=body, headers={**headers, **extra})
    return response


def _camera_count(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/v1/cameras", headers=headers)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def _key_rows(context: AppContext) -> int:
    with context.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one()


def test_m4_idempotency_replay_returns_the_stored_answer_and_runs_nothing(
    client: TestClient,
) -> None:
    _, headers = owner(client)
    body = _camera_body()
    first = _post_camera(client, headers, body, "key-1")
    again = _post_camera(client, headers, body, "key-1")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # byte for byte, device token included
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert _camera_count(client, headers) == 1


def test_m4_idempotency_delete_is_replayed(client: TestClient) -> None:
    _, headers = owner(client)
    camera = _post_camera(client, headers, _camera_body(), None).json()
    path = f"/v1/cameras/{camera['id']}"
    first = client.delete(path, headers={**headers, "Idempotency-Key": "unbind-1"})
    again = client.delete(path, headers={**headers, "Idempotency-Key": "unbind-1"})
    fresh = client.delete(path, headers=headers)

    assert (first.status_code, again.status_code, again.content) == (204, 204, b"")
    assert again.headers[REPLAYED] == "true"
    assert fresh.status_code == 404  # without the key the unbind really runs again


def test_m4_idempotency_key_reused_with_another_body_is_refused(client: TestClient) -> None:
    _, headers = owner(client)
    _post_camera(client, headers, _camera_body(), "key-1")
    reused = _post_camera(client, headers, _camera_body(), "key-1")

    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["code"] == "idempotency_key_reused"
    assert _camera_count(client, headers) == 1


def test_m4_idempotency_key_reused_on_another_method_or_path_is_refused(
    client: TestClient,
) -> None:
    _, headers = owner(client)
    camera = _post_camera(client, headers, _camera_body(), "key-1").json()
    keyed = {**headers, "Idempotency-Key": "key-1"}
    other_method = client.delete(f"/v1/cameras/{camera['id']}", headers=keyed)
    other_path = client.post("/v1/admin/cameras", json=_camera_body(), headers=keyed)
    other_query = client.post("/v1/cameras?x=1", json=_camera_body(), headers=keyed)

    for refused in (other_method, other_path, other_query):
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "idempotency_key_reused"
    assert _camera_count(client, headers) == 1  # the camera was not unbound


def test_m4_idempotency_keys_are_scoped_by_caller_and_credentials_are_not_stored(
    client: TestClient, context: AppContext
) -> None:
    _, alice = owner(client, "alice@example.com")
    _, bob = owner(client, "bob@example.com")
    for_alice = _post_camera(client, alice, _camera_body(), "shared-key")
    for_bob = _post_camera(client, bob, _camera_body(), "shared-key")

    assert (for_alice.status_code, for_bob.status_code) == (201, 201)
    assert REPLAYED not in for_bob.headers
    assert for_alice.json()["id"] != for_bob.json()["id"]
    with context.engine.connect() as connection:
        callers = set(connection.execute(select(IdempotencyKey.caller_digest)).scalars())
    assert callers == {
        hashlib.sha256(alice["Authorization"].encode()).hexdigest(),
        hashlib.sha256(bob["Authorization"].encode()).hexdigest(),
    }


def test_m4_stored_answers_are_sealed_so_no_device_token_or_body_rests_in_clear(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client)
    body = _camera_body()
    first = _post_camera(client, headers, body, "sealed-1")
    token = first.json()["device_token"]
    with context.engine.connect() as connection:
        row = connection.execute(select(IdempotencyKey.body, IdempotencyKey.request_digest)).one()
    assert token.encode() not in row.body
    assert body["serial"].encode() not in row.body
    # The request is compared by an HMAC under a key the database does not hold.
    assert row.request_digest != hashlib.sha256(first.request.content).hexdigest()
    replay = _post_camera(client, headers, body, "sealed-1")
    assert replay.json()["device_token"] == token


def test_m4_without_idempotency_key_every_request_runs(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client)
    body = _camera_body()
    first = _post_camera(client, headers, body, None)
    second = _post_camera(client, headers, body, None)

    assert first.status_code == 201
    assert second.status_code == 409  # it ran again: the serial is now bound
    assert second.json()["code"] == "camera_unavailable"
    assert REPLAYED not in second.headers
    assert _key_rows(context) == 0


def test_m4_idempotency_header_is_ignored_by_safe_methods(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client)
    keyed = {**headers, "Idempotency-Key": "list-1"}
    before = client.get("/v1/cameras", headers=keyed)
    _post_camera(client, headers, _camera_body(), None)
    after = client.get("/v1/cameras", headers=keyed)

    assert (len(before.json()["items"]), len(after.json()["items"])) == (0, 1)
    assert REPLAYED not in after.headers
    assert _key_rows(context) == 0


def test_m4_idempotency_4xx_answer_is_replayed(client: TestClient) -> None:
    _, alice = owner(client, "alice@example.com")
    _, bob = owner(client, "bob@example.com")
    serial = new_serial("IDEM")
    camera = _post_camera(client, alice, _camera_body(serial), None).json()
    refused = _post_camera(client, bob, _camera_body(serial), "bob-1")
    assert refused.status_code == 409
    # Alice unbinds: the same call would now succeed, yet Bob's retry gets the stored 409.
    assert client.delete(f"/v1/cameras/{camera['id']}", headers=alice).status_code == 204
    retried = _post_camera(client, bob, _camera_body(serial), "bob-1")

    assert retried.status_code == 409
    assert retried.content == refused.content
    assert retried.headers["content-type"] == "application/problem+json"
    assert retried.headers[REPLAYED] == "true"
    assert _camera_count(client, bob) == 0


def _import_camera(
    client: TestClient, admin_headers: dict[str, str], account_id: str, key: str
) -> httpx.Response:
    """The operator's import: its token never expires, unlike an owner's sign-in (12 h)."""
    body = {**_camera_body(), "account_id": account_id, "setup_at": START.isoformat()}
    response: httpx.Response = client.post(
        "/v1/admin/cameras", json=body, headers={**admin_headers, "Idempotency-Key": key}
    )
    return response


def test_m4_idempotency_key_expires_after_24_hours(
    client: TestClient, context: AppContext, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, _ = owner(client)
    first = _import_camera(client, admin_headers, account["id"], "key-1")
    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    still_held = _import_camera(client, admin_headers, account["id"], "key-1")
    clock.advance(timedelta(seconds=1))
    fresh = _import_camera(client, admin_headers, account["id"], "key-1")  # 24 h: key free

    assert (first.status_code, still_held.status_code, fresh.status_code) == (201, 422, 201)
    assert still_held.json()["code"] == "idempotency_key_reused"
    assert REPLAYED not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]
    assert _key_rows(context) == 1


def test_m4_idempotency_expired_keys_are_cleaned_up_opportunistically(
    client: TestClient, context: AppContext, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, _ = owner(client)
    for key in ("old-1", "old-2", "old-3"):
        _import_camera(client, admin_headers, account["id"], key)
    clock.advance(timedelta(hours=24))
    assert _import_camera(client, admin_headers, account["id"], "new-1").status_code == 201

    with context.engine.connect() as connection:
        keys = set(connection.execute(select(IdempotencyKey.key)).scalars())
    assert keys == {"new-1"}


def test_m4_idempotency_5xx_or_crash_releases_the_key(context: AppContext) -> None:
    app = _app_with_flaky_route(context)
    with TestClient(app, raise_server_exceptions=False) as client:
        call = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Idempotency-Key": "flaky-1"}
        crashed = client.post("/v1/test-flaky", json={}, headers=call)
        failed = client.post("/v1/test-flaky", json={}, headers=call)
        succeeded = client.post("/v1/test-flaky", json={}, headers=call)
        replayed = client.post("/v1/test-flaky", json={}, headers=call)

    assert (crashed.status_code, failed.status_code) == (500, 500)
    assert failed.json()["code"] == "internal_error"
    assert (succeeded.status_code, succeeded.json()) == (201, {"call": 3})
    assert (replayed.status_code, replayed.json()) == (201, {"call": 3})
    assert replayed.headers[REPLAYED] == "true"


def _app_with_flaky_route(context: AppContext) -> FastAPI:
    """The real app plus one route that crashes, then fails with a 500, then succeeds."""
    app = create_app(context)
    calls = {"n": 0}

    @app.post("/v1/test-flaky", status_code=201)
    def flaky() -> dict[str, int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("crash")
        if calls["n"] == 2:
            raise KasaCareError("failed")
        return {"call": calls["n"]}

    return app


def test_m4_idempotency_unanswered_reservation_waits_then_is_taken_over(
    client: TestClient, context: AppContext, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, headers = owner(client)
    body = _camera_body()
    _post_camera(client, headers, body, "key-1")
    # As if the process that reserved the key had died before it stored the answer.
    with context.engine.begin() as connection:
        connection.execute(update(IdempotencyKey).values(status_code=None, body=None))
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    waited = _post_camera(client, headers, body, "key-1")
    clock.advance(timedelta(minutes=5))
    taken_over = _post_camera(client, headers, body, "key-1")

    assert waited.status_code == 409
    assert waited.json()["code"] == "idempotency_key_in_use"
    assert taken_over.status_code == 409  # it ran afresh: the serial is bound already
    assert taken_over.json()["code"] == "camera_unavailable"
    assert REPLAYED not in taken_over.headers


def test_m4_idempotency_key_must_have_1_to_255_characters(client: TestClient) -> None:
    _, headers = owner(client)
    too_long = _post_camera(client, headers, _camera_body(), "k" * 256)
    longest = _post_camera(client, headers, _camera_body(), "k" * 255)
    empty = _post_camera(client, headers, _camera_body(), "")

    assert too_long.status_code == 422
    assert too_long.json()["code"] == "validation_error"
    assert empty.status_code == 422
    assert longest.status_code == 201
    assert _camera_count(client, headers) == 1


# Concurrency against a real server process -------------------------------------------------


@pytest.fixture(scope="module")
def server_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `kasacare serve` process with two workers on a fresh database of this backend."""
    directory = tmp_path_factory.mktemp(f"idempotency-{backend}")
    with fresh_database(backend, directory) as database_url:
        env = server_env(database_url, directory)
        with running_server(env, directory / "server.log", workers=2) as base:
            yield base


@pytest.mark.e2e
def test_m4_idempotency_20_parallel_requests_with_one_key_have_one_effect(
    server_url: str,
) -> None:
    with httpx.Client(base_url=server_url, timeout=60) as http:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        signup = {"email": email, "password": PASSWORD, "country": "US"}
        assert http.post("/v1/accounts", json=signup).status_code == 201
        token = http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    body = _camera_body()
    barrier = threading.Barrier(20)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def fire() -> None:
        with httpx.Client(base_url=server_url, timeout=60) as http:
            barrier.wait()
            answer = http.post(
                "/v1/cameras", json=body, headers={**headers, "Idempotency-Key": "race-1"}
            )
            answer.read()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=fire) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 20
    assert {answer.status_code for answer in answers} == {201}, [a.text for a in answers]
    assert len({answer.content for answer in answers}) == 1
    assert sum(REPLAYED not in answer.headers for answer in answers) == 1
    with httpx.Client(base_url=server_url, timeout=30) as http:
        cameras: list[dict[str, Any]] = http.get("/v1/cameras", headers=headers).json()["items"]
    assert [camera["serial"] for camera in cameras] == [body["serial"]]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer made-up", "Device made-up", "Basic bWFkZTp1cA==", "Bearer "],
    ids=["bearer", "device", "other-scheme", "empty"],
)
def test_m4_an_unknown_credential_reserves_no_key_and_gets_the_routes_401(
    client: TestClient, context: AppContext, authorization: str
) -> None:
    """Issue 13: keys are reserved only for callers the service knows, so made-up
    credentials cannot fill (or probe) the key store."""
    for _ in range(3):
        response = _post_camera(client, {"Authorization": authorization}, _camera_body(), "k-1")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert REPLAYED not in response.headers
    assert _key_rows(context) == 0


def test_m4_an_expired_access_token_reserves_no_key(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    _, headers = owner(client)
    clock.advance(timedelta(days=400))  # long past any access token's life
    response = _post_camera(client, headers, _camera_body(), "k-expired")
    assert response.status_code == 401
    assert _key_rows(context) == 0


def test_m4_a_device_token_is_a_known_caller(client: TestClient, context: AppContext) -> None:
    _, headers = owner(client)
    camera = _post_camera(client, headers, _camera_body(), None).json()
    device = {"Authorization": f"Device {camera['device_token']}", "Idempotency-Key": "m-1"}
    first = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=device)
    again = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=device)
    # The route is the owner's, so the camera's token is refused there; but it was known, so
    # its answer was stored under the key and replayed.
    assert first.status_code == again.status_code
    assert again.headers.get(REPLAYED) == "true"
    assert _key_rows(context) == 1


def test_m4_the_card_tokenizer_is_exempt_so_no_card_number_is_hashed_into_a_key(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client)
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    keyed = {**headers, "Idempotency-Key": "card-1"}
    first = client.post("/v1/sandbox/tokens", json=card, headers=keyed)
    second = client.post("/v1/sandbox/tokens", json=card, headers=keyed)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["token"] != second.json()["token"]
    assert _key_rows(context) == 0


def test_m4_idempotency_sign_in_ignores_the_header_and_stores_no_token(
    client: TestClient, context: AppContext
) -> None:
    account = owner(client)[0]
    sign_in = {"email": account["email"], "password": PASSWORD}
    keyed = {"Idempotency-Key": "sign-in-1"}
    first = client.post("/v1/auth/token", json=sign_in, headers=keyed)
    second = client.post("/v1/auth/token", json=sign_in, headers=keyed)

    assert first.json()["access_token"] != second.json()["access_token"]
    assert REPLAYED not in second.headers
    assert _key_rows(context) == 0
