"""Issue 12 item 1 over HTTP against a real `kasacare serve` with its default claim setting
(`required`): the factory's record, the device's claim code, the owner's binding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env

pytestmark = pytest.mark.e2e

OPERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "e2e-factory-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def default_claims_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp(f"claims-{backend}")
    with fresh_database(backend, directory) as database_url:
        env = server_env(database_url, directory)
        del env["KASACARE_DEVICE_CLAIMS"]  # the default, as in production
        with running_server(env, directory / "server.log") as base:
            yield base


def _owner(http: httpx.Client, email: str) -> dict[str, str]:
    password = "correct horse battery"
    body = {"email": email, "password": password, "country": "US"}
    assert http.post("/v1/accounts", json=body).status_code == 201
    token = http.post("/v1/auth/token", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_issue_12_a_camera_is_bound_only_with_the_code_it_shows(
    default_claims_url: str, tmp_path: Path
) -> None:
    with httpx.Client(base_url=default_claims_url, timeout=30) as http:
        device = {"serial": "E2E0001", "model": "KC120", "hardware_version": "1.0"}
        provisioned = http.post(
            "/v1/admin/devices", json={**device, "device_secret": SECRET}, headers=OPERATOR
        )
        assert provisioned.status_code == 201, provisioned.text
        first = _owner(http, "first@example.com")
        second = _owner(http, "second@example.com")
        camera = {"model": "KC120", "serial": "E2E0001", "name": "Porch"}
        without = http.post("/v1/cameras", json=camera, headers=first)
        assert (without.status_code, without.json()["code"]) == (403, "claim_code_invalid")
        assert http.post("/v1/device/claim-codes", auth=("E2E0001", "x" * 40)).status_code == 401
        code = http.post("/v1/device/claim-codes", auth=("E2E0001", SECRET)).json()["code"]
        bound = http.post("/v1/cameras", json={**camera, "claim_code": code}, headers=first)
        assert bound.status_code == 201, bound.text
        device_token = {"Authorization": f"Device {bound.json()['device_token']}"}
        assert http.get("/v1/device/entitlement", headers=device_token).status_code == 200
        reused = http.post("/v1/cameras", json={**camera, "claim_code": code}, headers=second)
        assert (reused.status_code, reused.json()["code"]) == (403, "claim_code_invalid")
        fresh = http.post("/v1/device/claim-codes", auth=("E2E0001", SECRET)).json()["code"]
        taken = http.post("/v1/cameras", json={**camera, "claim_code": fresh}, headers=second)
        assert (taken.status_code, taken.json()["code"]) == (409, "camera_unavailable")
