"""Issue 12 item 1: the web app's add-camera form takes the claim code the camera shows;
with claims required, a wrong code is refused in words and nothing is added."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from kasacare.app import create_app
from kasacare.cameras.models import Camera
from kasacare.context import AppContext
from kasacare.devices.codes import DeviceClaims
from kasacare.kit.clock import FixedClock
from tests.conftest import START
from tests.factories import claim_code, owner, provision_device, register_camera
from tests.web.conftest import csrf
from tests.web.test_pages import sign_up


@pytest.fixture
def claims_browser(context: AppContext) -> Iterator[TestClient]:
    settings = context.settings.model_copy(update={"device_claims": DeviceClaims.REQUIRED})
    with TestClient(
        create_app(replace(context, settings=settings)),
        base_url="https://testserver",
        raise_server_exceptions=False,
    ) as client:
        yield client


def test_issue_12_a_camera_is_added_with_its_claim_code(
    claims_browser: TestClient, admin_headers: dict[str, str]
) -> None:
    sign_up(claims_browser)
    serial, secret = provision_device(claims_browser, admin_headers)
    page = claims_browser.get("/app/cameras")
    assert 'name="claim_code"' in page.text
    assert "The 8-character code the camera shows" in page.text
    form = {"model": "KC120", "serial": serial, "name": "Porch", "csrf_token": csrf(page.text)}
    refused = claims_browser.post(
        "/app/cameras", data={**form, "claim_code": "WRONGCDE"}, follow_redirects=False
    )
    # Issue 14 item 4: post/redirect/get, the typed fields kept (never the claim code).
    assert refused.status_code == 303
    assert refused.headers["location"] == (
        f"/app/cameras?problem=claim_code_invalid&model=KC120&serial={serial}&name=Porch#add"
    )
    wrong = claims_browser.get(refused.headers["location"])
    assert "That claim code isn&#39;t right or has expired." in wrong.text
    assert "No cameras yet." in wrong.text
    assert f'value="{serial}"' in wrong.text and 'value="Porch"' in wrong.text
    assert '<option value="KC120" selected>' in wrong.text
    assert "WRONGCDE" not in wrong.text
    added = claims_browser.post(
        "/app/cameras", data={**form, "claim_code": claim_code(claims_browser, serial, secret)}
    )
    assert added.status_code == 200
    assert "Camera added" in added.text
    assert f"Kasa Cam (KC120) · {serial}" in added.text


def test_issue_12_the_field_is_required_only_when_claims_are(browser: TestClient) -> None:
    sign_up(browser)
    page = browser.get("/app/cameras")  # the shared test settings: claims off
    field = next(line for line in page.text.splitlines() if 'name="claim_code"' in line)
    assert " required" not in field


def test_issue_12_the_camera_list_shows_online_or_offline_with_the_last_seen(
    browser: TestClient, context: AppContext, clock: FixedClock
) -> None:
    sign_up(browser)
    page = browser.get("/app/cameras")
    form = {"model": "KC120", "serial": "WEBSEEN1", "name": "Porch", "csrf_token": csrf(page.text)}
    assert "Offline (never seen)" in browser.post("/app/cameras", data=form).text
    # Heard from now (an MQTT event or a long poll: tests/devices, tests/e2e).
    with context.sessions() as session:
        session.execute(update(Camera).values(last_seen_at=START))
        session.commit()
    assert '<p class="presence">Online</p>' in browser.get("/app/cameras").text
    clock.advance(timedelta(minutes=2))  # nothing heard for 2 minutes
    # The account's zone (GB sign-up: Europe/London, GMT in March): 12:00 local.
    assert "Offline (last seen 1 Mar 2026, 12:00)" in browser.get("/app/cameras").text


def test_issue_12_a_long_poll_marks_the_camera_online_in_the_api(
    browser: TestClient, clock: FixedClock
) -> None:
    _, headers = owner(browser, "api@example.com")
    bound = register_camera(browser, headers, "KC120")
    assert (bound["online"], bound["last_seen_at"]) == (False, None)
    device = {"Authorization": f"Device {bound['device_token']}"}
    assert browser.get("/v1/device/commands", headers=device).json() == {"items": []}
    listed = browser.get("/v1/cameras", headers=headers).json()["items"][0]
    assert (listed["online"], listed["last_seen_at"]) == (True, "2026-03-01T12:00:00Z")
    clock.advance(timedelta(minutes=2))
    listed = browser.get("/v1/cameras", headers=headers).json()["items"][0]
    assert (listed["online"], listed["last_seen_at"]) == (False, "2026-03-01T12:00:00Z")
