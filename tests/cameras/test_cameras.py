"""Cameras: registration, binding, unbinding, import, device tokens (F1-F5, Q6, Q12, Q13, Q16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.cameras.models import Camera
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.conftest import START
from tests.factories import new_serial, owner, register_camera, token_for

# Model: (source, history hours, free plan end) for a camera set up at START (2026-03-01T12:00Z).
EXPECTED = {
    "KC100": ("free", 12, "2028-03-01T12:00:00Z"),
    "KC110": ("free", 12, "2028-03-01T12:00:00Z"),
    "KC120": ("free", 48, "2028-03-01T12:00:00Z"),
    "KC200": ("free", 48, "2028-03-01T12:00:00Z"),
    "KC300": ("free", 48, "2027-03-01T12:00:00Z"),
    "KC300S2": ("free", 48, "2027-03-01T12:00:00Z"),
    "KC310": ("free", 12, "2027-03-01T12:00:00Z"),
    "KC310S2": ("free", 12, "2027-03-01T12:00:00Z"),
    "KC105": ("none", 0, None),
    "KC115": ("none", 0, None),
    "EC60": ("none", 0, None),
    "EC70": ("none", 0, None),
    "KC400": ("none", 0, None),
    "KC410S": ("none", 0, None),
    "KC420WS": ("none", 0, None),
}


def _summary(camera: dict[str, Any]) -> tuple[str, int, str | None]:
    e = camera["entitlement"]
    return e["source"], e["history_hours"], e["free_plan_ends_at"]


def test_q6_q12_q16_each_model_gets_its_free_plan_over_the_api(client: TestClient) -> None:
    _, headers = owner(client)
    for model, expected in EXPECTED.items():
        created = register_camera(client, headers, model)
        assert _summary(created) == expected, model
        assert created["entitlement"]["cloud_recording"] is (expected[0] == "free")
        assert created["entitlement"]["manual_recording"] is (expected[0] == "free")
        assert created["entitlement"]["clip_download"] is False
        fetched = client.get(f"/v1/cameras/{created['id']}", headers=headers).json()
        assert _summary(fetched) == expected
    listed = client.get("/v1/cameras", headers=headers).json()["items"]
    assert sorted(c["model"] for c in listed) == sorted(EXPECTED)


def test_f4_q13_free_plan_ends_at_its_exact_instant_over_the_api(
    client: TestClient, clock: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC310")
    clock.set(datetime(2027, 3, 1, 11, 59, 59, tzinfo=UTC))
    headers = token_for(client, "owner@example.com")  # the old token expired meanwhile
    assert _summary(client.get(f"/v1/cameras/{camera['id']}", headers=headers).json())[0] == "free"
    clock.set(datetime(2027, 3, 1, 12, 0, 0, tzinfo=UTC))
    after = client.get(f"/v1/cameras/{camera['id']}", headers=headers).json()
    assert _summary(after) == ("none", 0, "2027-03-01T12:00:00Z")
    assert after["entitlement"]["cloud_recording"] is False


def test_unknown_model_is_refused_with_unknown_model(client: TestClient) -> None:
    _, headers = owner(client)
    response = client.post(
        "/v1/cameras", json={"model": "KC999", "serial": new_serial()}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_model"
    assert "KC999" in response.json()["detail"]


def test_issue_12_a_bound_serial_is_one_neutral_refusal_whoever_asks(client: TestClient) -> None:
    """Issue 12 item 1: the 409 no longer tells "your account" from "another account" (a
    probe for which serials are bound where), with claims off as with claims required."""
    _, first = owner(client, "first@example.com")
    _, second = owner(client, "second@example.com")
    serial = new_serial()
    register_camera(client, first, "KC120", serial)
    response = client.post("/v1/cameras", json={"model": "KC120", "serial": serial}, headers=second)
    again = client.post("/v1/cameras", json={"model": "KC120", "serial": serial}, headers=first)
    assert response.status_code == again.status_code == 409
    assert response.json()["code"] == again.json()["code"] == "camera_unavailable"
    assert response.json()["detail"] == again.json()["detail"]


def test_f2_rebinding_on_any_account_never_restarts_the_free_period(
    client: TestClient, clock: FixedClock
) -> None:
    _, first = owner(client, "seller@example.com")
    _, second = owner(client, "buyer@example.com")
    serial = new_serial()
    original = register_camera(client, first, "KC300", serial)
    assert original["entitlement"]["free_plan_ends_at"] == "2027-03-01T12:00:00Z"
    clock.advance(timedelta(days=200))
    first = token_for(client, "seller@example.com")
    second = token_for(client, "buyer@example.com")
    assert client.delete(f"/v1/cameras/{original['id']}", headers=first).status_code == 204
    rebound = register_camera(client, second, "KC300", serial)
    assert rebound["id"] != original["id"]
    assert rebound["setup_at"] == original["setup_at"]
    assert rebound["entitlement"]["free_plan_ends_at"] == "2027-03-01T12:00:00Z"
    clock.set(datetime(2027, 3, 1, 12, tzinfo=UTC))
    second = token_for(client, "buyer@example.com")
    unbind_and_back = client.get(f"/v1/cameras/{rebound['id']}", headers=second).json()
    assert unbind_and_back["entitlement"]["source"] == "none"


def test_f2_a_serial_keeps_its_model(client: TestClient) -> None:
    _, headers = owner(client)
    serial = new_serial()
    camera = register_camera(client, headers, "KC120", serial)
    client.delete(f"/v1/cameras/{camera['id']}", headers=headers)
    response = client.post(
        "/v1/cameras", json={"model": "KC200", "serial": serial}, headers=headers
    )
    assert response.status_code == 422
    assert "KC120" in response.json()["detail"]


def test_f2_operator_imports_a_camera_with_its_original_setup(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    account, headers = owner(client)
    body = {
        "account_id": account["id"],
        "model": "KC300",
        "serial": new_serial(),
        "name": "Porch",
        "setup_at": "2024-02-29T10:00:00Z",
    }
    imported = client.post("/v1/admin/cameras", json=body, headers=admin_headers)
    assert imported.status_code == 201, imported.text
    # 2024-02-29T10:00Z + 1 year = 2025-02-28T10:00Z (M7 clamp), long past at START.
    assert imported.json()["entitlement"] == {
        "source": "none",
        "cloud_recording": False,
        "history_hours": 0,
        "manual_recording": False,
        "clip_download": False,
        "free_plan_ends_at": "2025-02-28T10:00:00Z",
    }
    listed = client.get("/v1/cameras", headers=headers).json()["items"]
    assert [c["name"] for c in listed] == ["Porch"]


def test_import_refuses_a_future_setup_and_needs_the_operator(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    account, headers = owner(client)
    body = {
        "account_id": account["id"],
        "model": "KC120",
        "serial": new_serial(),
        "setup_at": (START + timedelta(days=1)).isoformat(),
    }
    future = client.post("/v1/admin/cameras", json=body, headers=admin_headers)
    assert future.status_code == 422
    assert future.json()["code"] == "validation_error"
    assert client.post("/v1/admin/cameras", json=body, headers=headers).status_code == 403
    naive = {**body, "setup_at": "2025-01-01T00:00:00"}
    assert client.post("/v1/admin/cameras", json=naive, headers=admin_headers).status_code == 422


def test_another_accounts_camera_answers_404(client: TestClient) -> None:
    _, mine = owner(client, "mine@example.com")
    _, theirs = owner(client, "theirs@example.com")
    camera = register_camera(client, theirs)
    for response in (
        client.get(f"/v1/cameras/{camera['id']}", headers=mine),
        client.delete(f"/v1/cameras/{camera['id']}", headers=mine),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert client.get(f"/v1/cameras/{camera['id']}", headers=theirs).status_code == 200


def test_unbinding_removes_the_camera(client: TestClient) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers)
    assert client.delete(f"/v1/cameras/{camera['id']}", headers=headers).status_code == 204
    assert client.get(f"/v1/cameras/{camera['id']}", headers=headers).status_code == 404
    assert client.get("/v1/cameras", headers=headers).json()["items"] == []


def test_device_token_is_shown_once_stored_hashed_and_reads_its_entitlement(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC100")
    token = camera["device_token"]
    assert "device_token" not in client.get(f"/v1/cameras/{camera['id']}", headers=headers).json()
    with context.sessions() as session:
        digests = session.scalars(select(Camera.device_token_digest)).all()
    assert token not in digests and len(digests) == 1
    device = {"Authorization": f"Device {token}"}
    entitlement = client.get("/v1/device/entitlement", headers=device)
    assert entitlement.status_code == 200
    assert entitlement.json()["camera_id"] == camera["id"]
    assert entitlement.json()["entitlement"]["history_hours"] == 12


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/me"),
        ("GET", "/v1/cameras"),
        ("POST", "/v1/cameras"),
        ("GET", "/v1/admin/clock"),
    ],
)
def test_a_device_token_reaches_nothing_else(client: TestClient, method: str, path: str) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers)
    device = {"Authorization": f"Device {camera['device_token']}"}
    response = client.request(method, path, headers=device, json={})
    assert response.status_code in (401, 404)  # 404: the test clock is off in this app


def test_an_unbound_cameras_token_stops_working(client: TestClient) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers)
    device = {"Authorization": f"Device {camera['device_token']}"}
    client.delete(f"/v1/cameras/{camera['id']}", headers=headers)
    assert client.get("/v1/device/entitlement", headers=device).status_code == 401
    assert client.get("/v1/device/entitlement").status_code == 401


@pytest.mark.parametrize("serial", ["ab", "bad serial!", "x" * 70])
def test_bad_serials_are_refused(client: TestClient, serial: str) -> None:
    _, headers = owner(client)
    response = client.post(
        "/v1/cameras", json={"model": "KC120", "serial": serial}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
