"""Plain factory functions that act through the public API, as a client would."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from kasacare.clips.mp4 import mp4_like

PASSWORD = "correct horse battery"
_serials = itertools.count(1)
#: A clip body that passes the upload's MP4 check: an `ftyp` box, then bytes for video.
VIDEO = mp4_like(280)


def sign_up(
    client: TestClient, email: str = "owner@example.com", *, country: str = "US"
) -> dict[str, Any]:
    response = client.post(
        "/v1/accounts", json={"email": email, "password": PASSWORD, "country": country}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def token_for(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def owner(
    client: TestClient, email: str = "owner@example.com", *, country: str = "US"
) -> tuple[dict[str, Any], dict[str, str]]:
    """A signed-up owner and the headers that act as them."""
    account = sign_up(client, email, country=country)
    return account, token_for(client, email)


def new_serial(prefix: str = "SN") -> str:
    return f"{prefix}{next(_serials):08d}"


def register_camera(
    client: TestClient, headers: dict[str, str], model: str = "KC120", serial: str | None = None
) -> dict[str, Any]:
    response = client.post(
        "/v1/cameras",
        json={"model": model, "serial": serial or new_serial(), "name": f"{model} cam"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def card_on_file(
    client: TestClient,
    headers: dict[str, str],
    number: str = "4242424242424242",
    *,
    exp_month: int = 12,
    exp_year: int = 2030,
) -> None:
    """Tokenize a sandbox test card and put it on file."""
    token = client.post(
        "/v1/sandbox/tokens",
        json={"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": "123"},
    )
    assert token.status_code == 201, token.text
    response = client.put(
        "/v1/payment-method", json={"token": token.json()["token"]}, headers=headers
    )
    assert response.status_code == 200, response.text


def subscribe(
    client: TestClient,
    headers: dict[str, str],
    camera_ids: list[str],
    *,
    plan: str = "plus",
    cycle: str = "monthly",
    trial: bool = False,
) -> dict[str, Any]:
    response = client.post(
        "/v1/subscription",
        json={"plan": plan, "cycle": cycle, "camera_ids": camera_ids, "trial": trial},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def post_legacy_import(
    client: TestClient,
    admin: dict[str, str],
    account_id: str,
    camera_ids: list[str],
    *,
    plan: str = "legacy-plus",
    cycle: str = "monthly",
    price: int = 299,
    paid: int | None = None,
    channel: str = "direct",
    start: str = "2026-04-01T00:00:00Z",
    end: str = "2026-05-01T00:00:00Z",
) -> Any:
    """The operator's legacy import (USD), its response as it comes; `paid` defaults to
    the price."""
    return client.post(
        "/v1/admin/legacy-subscriptions",
        json={
            "account_id": account_id,
            "plan": plan,
            "cycle": cycle,
            "camera_ids": camera_ids,
            "price": {"amount": price, "currency": "USD"},
            "paid": {"amount": price if paid is None else paid, "currency": "USD"},
            "current_period_start": start,
            "current_period_end": end,
            "channel": channel,
        },
        headers=admin,
    )


def import_legacy(
    client: TestClient,
    admin: dict[str, str],
    account_id: str,
    camera_ids: list[str],
    *,
    expect: int = 201,
    **fields: Any,
) -> dict[str, Any]:
    """`post_legacy_import`, answered with `expect` (201 by default); its body."""
    response = post_legacy_import(client, admin, account_id, camera_ids, **fields)
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


def goodwill(
    client: TestClient, admin: dict[str, str], account_id: str, amount: int, currency: str = "USD"
) -> dict[str, Any]:
    """A support agent's goodwill credit (a credit note) on the account; its body."""
    response = client.post(
        f"/v1/support/accounts/{account_id}/goodwill-credits",
        json={"amount": {"amount": amount, "currency": currency}, "note": "test goodwill"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


DEVICE_SECRET_PREFIX = "factory-secret-of-"  # + the serial: 32+ characters, as required


def provision_device(
    client: TestClient, admin_headers: dict[str, str], model: str = "KC120", serial: str = ""
) -> tuple[str, str]:
    """The factory's record of a new device (issue 12): its serial and secret."""
    serial = serial or new_serial("PV")
    secret = f"{DEVICE_SECRET_PREFIX}{serial}-0123456789abcdef"
    response = client.post(
        "/v1/admin/devices",
        json={"serial": serial, "model": model, "hardware_version": "1.0", "device_secret": secret},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    return serial, secret


def claim_code(client: TestClient, serial: str, secret: str) -> str:
    """What the camera shows during setup: a code it asked for with its secret."""
    response = client.post("/v1/device/claim-codes", auth=(serial, secret))
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    return code


def claimed_camera(
    client: TestClient, headers: dict[str, str], admin_headers: dict[str, str], model: str = "KC120"
) -> dict[str, Any]:
    """A provisioned camera bound with its claim code (claims required)."""
    serial, secret = provision_device(client, admin_headers, model)
    response = client.post(
        "/v1/cameras",
        json={"model": model, "serial": serial, "claim_code": claim_code(client, serial, secret)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
