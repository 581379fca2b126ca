"""The account's time zone (issue 11 item 4): an IANA name, UTC by default, set at sign-up
or later with PATCH /v1/me; anything else is 422 `invalid_time_zone`."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import PASSWORD, owner


def test_issue_11_item_4_the_time_zone_defaults_to_utc_and_can_be_changed(
    client: TestClient,
) -> None:
    account, headers = owner(client)
    assert account["time_zone"] == "UTC"
    changed = client.patch("/v1/me", json={"time_zone": "America/Los_Angeles"}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["time_zone"] == "America/Los_Angeles"
    assert client.get("/v1/me", headers=headers).json()["time_zone"] == "America/Los_Angeles"


def test_issue_11_item_4_sign_up_takes_a_time_zone(client: TestClient) -> None:
    created = client.post(
        "/v1/accounts",
        json={
            "email": "zone@example.com",
            "password": PASSWORD,
            "country": "GB",
            "time_zone": "Europe/London",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["time_zone"] == "Europe/London"


def test_issue_11_item_4_an_unknown_time_zone_is_refused(client: TestClient) -> None:
    _, headers = owner(client)
    for name in ("Mars/Olympus_Mons", "../../etc/passwd", "localtime", "PST"):
        response = client.patch("/v1/me", json={"time_zone": name}, headers=headers)
        assert response.status_code == 422, name
        assert response.json()["code"] == "invalid_time_zone", name
    assert client.get("/v1/me", headers=headers).json()["time_zone"] == "UTC"
    refused = client.post(
        "/v1/accounts",
        json={
            "email": "mars@example.com",
            "password": PASSWORD,
            "country": "US",
            "time_zone": "Mars/Olympus_Mons",
        },
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_time_zone")
