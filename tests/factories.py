"""Plain factory functions that act through the public API, as a client would."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
_serials = itertools.count(1)


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
