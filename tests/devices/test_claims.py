"""Issue 12 item 1: device identity and claim codes. The factory provisions devices (secret
kept as a digest); a device asks for a claim code with its secret; an owner binds only
with a live code, once; failures are throttled per serial and per account; a bound serial
is one neutral 409. Run with claims required (`claims_client`)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.config import ConfigurationError, load_settings
from kasacare.context import AppContext
from kasacare.devices.codes import ALPHABET, DeviceClaims
from kasacare.devices.models import ClaimCode, ClaimThrottle, ProvisionedDevice
from kasacare.kit.clock import FixedClock
from tests.conftest import START
from tests.factories import claim_code, claimed_camera, new_serial, owner, provision_device

CODE = re.compile(f"^[{ALPHABET}]{{8}}$")


def _bind(
    client: TestClient, headers: dict[str, str], serial: str, code: str | None, model: str = "KC120"
) -> tuple[int, str]:
    body = {"model": model, "serial": serial, "name": "Porch", "claim_code": code}
    response = client.post("/v1/cameras", json=body, headers=headers)
    return response.status_code, response.json().get("code", "")


def test_issue_12_claims_are_required_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KASACARE_DEVICE_CLAIMS", raising=False)
    assert load_settings().device_claims is DeviceClaims.REQUIRED
    monkeypatch.setenv("KASACARE_DEVICE_CLAIMS", "off")
    assert load_settings().device_claims is DeviceClaims.OFF
    monkeypatch.setenv("KASACARE_DEVICE_CLAIMS", "maybe")
    with pytest.raises(ConfigurationError, match="KASACARE_DEVICE_CLAIMS"):
        load_settings()


def test_issue_12_the_operator_provisions_a_device_and_only_its_digest_is_kept(
    claims_client: TestClient, admin_headers: dict[str, str], context: AppContext
) -> None:
    serial, secret = provision_device(claims_client, admin_headers, "KC300", "pv-0001")
    assert serial == "pv-0001"
    with context.sessions() as session:
        device = session.scalars(select(ProvisionedDevice)).one()
    assert device.serial == "PV-0001"  # normalized as camera serials are
    assert device.model == "KC300"
    assert device.provisioned_at == START
    assert device.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    again = claims_client.post(
        "/v1/admin/devices",
        json={
            "serial": "PV-0001",
            "model": "KC300",
            "hardware_version": "1",
            "device_secret": secret,
        },
        headers=admin_headers,
    )
    assert (again.status_code, again.json()["code"]) == (409, "device_already_provisioned")
    short = claims_client.post(
        "/v1/admin/devices",
        json={
            "serial": "PV-0002",
            "model": "KC300",
            "hardware_version": "1",
            "device_secret": "x" * 31,
        },
        headers=admin_headers,
    )
    assert short.status_code == 422
    _, headers = owner(claims_client)
    not_operator = claims_client.post(
        "/v1/admin/devices",
        json={
            "serial": "PV-0003",
            "model": "KC300",
            "hardware_version": "1",
            "device_secret": secret,
        },
        headers=headers,
    )
    assert not_operator.status_code == 403


def test_issue_12_a_claim_code_needs_the_devices_secret_and_is_kept_as_a_digest(
    claims_client: TestClient, admin_headers: dict[str, str], context: AppContext
) -> None:
    serial, secret = provision_device(claims_client, admin_headers)
    wrong = claims_client.post("/v1/device/claim-codes", auth=(serial, secret + "x"))
    unknown = claims_client.post("/v1/device/claim-codes", auth=("NOSUCH01", secret))
    anonymous = claims_client.post("/v1/device/claim-codes")
    assert wrong.status_code == unknown.status_code == anonymous.status_code == 401
    response = claims_client.post("/v1/device/claim-codes", auth=(serial, secret))
    assert response.status_code == 201
    body = response.json()
    assert CODE.match(body["code"])
    assert body["expires_at"] == "2026-03-01T12:10:00Z"  # START + 10 minutes
    with context.sessions() as session:
        stored = session.scalars(select(ClaimCode)).one()
    assert body["code"] not in stored.code_digest
    assert stored.code_digest == hashlib.sha256(f"{serial}:{body['code']}".encode()).hexdigest()


def test_issue_12_an_owner_binds_with_the_code_and_the_code_works_once(
    claims_client: TestClient, admin_headers: dict[str, str]
) -> None:
    serial, secret = provision_device(claims_client, admin_headers)
    code = claim_code(claims_client, serial, secret)
    _, first = owner(claims_client, "first@example.com")
    _, second = owner(claims_client, "second@example.com")
    # Typed as people type it: lower case, with a dash in the middle.
    assert _bind(claims_client, first, serial, f"{code[:4].lower()}-{code[4:]}") == (201, "")
    camera = claims_client.get("/v1/cameras", headers=first).json()["items"][0]
    claims_client.delete(f"/v1/cameras/{camera['id']}", headers=first)
    # Unbound again, but the code was used: it binds nothing a second time.
    assert _bind(claims_client, second, serial, code) == (403, "claim_code_invalid")


def test_issue_12_a_wrong_expired_or_withdrawn_code_and_an_unprovisioned_serial_are_refused(
    claims_client: TestClient, admin_headers: dict[str, str], clock: FixedClock
) -> None:
    _, headers = owner(claims_client)
    serial, secret = provision_device(claims_client, admin_headers)
    assert _bind(claims_client, headers, serial, None) == (403, "claim_code_invalid")
    assert _bind(claims_client, headers, new_serial("UNPROV"), "ABCDEFGH") == (
        403,
        "claim_code_invalid",
    )
    withdrawn = claim_code(claims_client, serial, secret)
    code = claim_code(claims_client, serial, secret)  # a new code withdraws the earlier one
    assert _bind(claims_client, headers, serial, withdrawn) == (403, "claim_code_invalid")
    clock.advance(timedelta(minutes=10))  # the code's last instant has passed
    assert _bind(claims_client, headers, serial, code) == (403, "claim_code_invalid")
    clock.advance(timedelta(seconds=-1))
    assert _bind(claims_client, headers, serial, code) == (201, "")


def test_issue_12_the_model_is_the_one_the_factory_recorded(
    claims_client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, headers = owner(claims_client)
    serial, secret = provision_device(claims_client, admin_headers, "KC300")
    code = claim_code(claims_client, serial, secret)
    assert _bind(claims_client, headers, serial, code, model="KC120") == (422, "validation_error")
    # The refusal rolled back: the code was not used up.
    assert _bind(claims_client, headers, serial, code, model="KC300") == (201, "")


def test_issue_12_a_bound_serial_is_one_neutral_409_even_with_a_valid_code(
    claims_client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, first = owner(claims_client, "first@example.com")
    _, second = owner(claims_client, "second@example.com")
    serial, secret = provision_device(claims_client, admin_headers)
    assert _bind(claims_client, first, serial, claim_code(claims_client, serial, secret))[0] == 201
    theirs = claims_client.post(
        "/v1/cameras",
        json={
            "model": "KC120",
            "serial": serial,
            "claim_code": claim_code(claims_client, serial, secret),
        },
        headers=second,
    )
    mine = claims_client.post(
        "/v1/cameras",
        json={
            "model": "KC120",
            "serial": serial,
            "claim_code": claim_code(claims_client, serial, secret),
        },
        headers=first,
    )
    assert theirs.status_code == mine.status_code == 409
    assert theirs.json()["code"] == mine.json()["code"] == "camera_unavailable"
    assert theirs.json()["detail"] == mine.json()["detail"]  # nothing tells whose it is


def test_issue_12_wrong_codes_are_throttled_per_serial(
    claims_client: TestClient, admin_headers: dict[str, str], clock: FixedClock
) -> None:
    serial, secret = provision_device(claims_client, admin_headers)
    code = claim_code(claims_client, serial, secret)
    # Five accounts, one wrong guess each: the account counts stay far below theirs (10).
    for index in range(5):
        _, guesser = owner(claims_client, f"guesser{index}@example.com")
        assert _bind(claims_client, guesser, serial, "WRONGCDE") == (403, "claim_code_invalid")
    _, rightful = owner(claims_client, "rightful@example.com")
    # 5 failures are free; the 6th try waits 30 s after the 5th failure, even the right code.
    refused = claims_client.post(
        "/v1/cameras",
        json={"model": "KC120", "serial": serial, "claim_code": code},
        headers=rightful,
    )
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_attempts"
    assert refused.json()["retry_after_seconds"] == 30
    clock.advance(timedelta(seconds=30))
    assert _bind(claims_client, rightful, serial, code) == (201, "")


def test_issue_12_wrong_codes_are_throttled_per_account(
    claims_client: TestClient, admin_headers: dict[str, str], context: AppContext
) -> None:
    account, guesser = owner(claims_client)
    # One account guessing ten serials once each: no serial's count reaches its 5.
    for _ in range(10):
        assert _bind(claims_client, guesser, new_serial("GUESS"), "WRONGCDE") == (
            403,
            "claim_code_invalid",
        )
    serial, secret = provision_device(claims_client, admin_headers)
    code = claim_code(claims_client, serial, secret)
    assert _bind(claims_client, guesser, serial, code) == (429, "too_many_attempts")
    with context.sessions() as session:
        counted = session.get(ClaimThrottle, f"claim-account:{account['id']}")
    assert counted is not None and counted.failures == 10


def test_issue_12_f2_imported_cameras_keep_their_setup_with_claims_required(
    claims_client: TestClient, admin_headers: dict[str, str]
) -> None:
    account, headers = owner(claims_client)
    response = claims_client.post(
        "/v1/admin/cameras",
        json={
            "account_id": account["id"],
            "model": "KC120",
            "serial": new_serial("IMP"),
            "name": "Imported",
            "setup_at": "2025-06-01T08:00:00Z",
        },
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    # F2: a KC120 is free for 2 years (test catalog) from its original setup.
    assert response.json()["entitlement"]["free_plan_ends_at"] == "2027-06-01T08:00:00Z"
    assert claimed_camera(claims_client, headers, admin_headers)["entitlement"]["source"] == "free"
