"""The web app's "Record now" (issue 12 item 3, SPEC V5): a button only on cameras whose
entitlement allows manual recording, and a page that shows the request's state."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from kasacare.kit.clock import FixedClock
from tests.web.conftest import csrf
from tests.web.test_pages import sign_up


def test_issue_12_item_3_v5_record_now_shows_only_where_allowed_then_the_requests_state(
    browser: TestClient, clock: FixedClock
) -> None:
    sign_up(browser)
    page = browser.get("/app/cameras")
    for model, serial, name in (("KC120", "WEB0101", "Porch"), ("KC105", "WEB0102", "Hall")):
        browser.post(
            "/app/cameras",
            data={"model": model, "serial": serial, "name": name, "csrf_token": csrf(page.text)},
        )
    cameras = browser.get("/app/cameras").text
    # The KC120's free plan allows manual recording (V5); the KC105 has no cloud recording.
    assert 'aria-label="Record now on Porch"' in cameras
    assert 'aria-label="Record now on Hall"' not in cameras
    action = re.search(r'action="(/app/cameras/[0-9a-f-]+/record-now)"', cameras)
    assert action is not None
    asked = browser.post(action.group(1), data={"csrf_token": csrf(cameras)})
    assert asked.status_code == 200
    assert str(asked.url).startswith("https://testserver/app/cameras/")
    assert 'data-state="sent"' in asked.text
    assert '<meta http-equiv="refresh" content="3">' in asked.text  # it follows the camera
    clock.advance(timedelta(minutes=2))  # no answer within 2 minutes
    later = browser.get(str(asked.url))
    assert 'data-state="expired"' in later.text
    assert "http-equiv" not in later.text


def test_issue_12_item_3_record_now_without_its_csrf_token_is_refused(
    browser: TestClient,
) -> None:
    sign_up(browser)
    page = browser.get("/app/cameras")
    browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": "WEB0103",
            "name": "Porch",
            "csrf_token": csrf(page.text),
        },
    )
    action = re.search(r'action="(/app/cameras/[0-9a-f-]+/record-now)"', browser.get(page.url).text)
    assert action is not None
    refused = browser.post(action.group(1), data={}, follow_redirects=False)
    assert refused.status_code == 303  # post/redirect/get (issue 14 item 4)
    assert refused.headers["location"].startswith("/app/cameras?problem=csrf_rejected#camera-")
    assert "This form expired" in browser.get(refused.headers["location"]).text
