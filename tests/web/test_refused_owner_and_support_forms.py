"""Post/redirect/get for the owner's settings, camera buttons, auto-renew, export and the
support console's actions (issue 14 item 4): a refusal answers 303 to the form's page with
its problem code; what was typed comes back from a cookie for that page (never the address,
never a password); the page after the redirect can be refreshed without posting again."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.factories import (
    PASSWORD,
    card_on_file,
    import_legacy,
    owner,
    register_camera,
    subscribe,
    token_for,
)
from tests.web.conftest import csrf
from tests.web.test_pages import _agent, sign_up


def _kept(response: httpx.Response, path: str) -> dict[str, Any]:
    """The refused-form cookie the redirect set: for `path` only, and what it holds (sealed
    against tampering, not secret, hence read here to prove what it never holds)."""
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("kc_refused_form=") and f"Path={path};" in cookie
    assert "HttpOnly" in cookie
    sealed = cookie.split(";", 1)[0].split("=", 1)[1].strip('"')
    payload = sealed.split(".")[1]
    fields: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return fields


def _twice(browser: TestClient, location: str) -> list[str]:
    """The page the refusal went back to, then a refresh of it: both pages' text."""
    return [browser.get(location).text, browser.get(location).text]


def test_issue_14_item_4_a_refused_time_zone_comes_back_chosen_and_a_refresh_posts_nothing(
    browser: TestClient,
) -> None:
    sign_up(browser)
    settings = browser.get("/app/settings")
    refused = browser.post(
        "/app/settings",
        data={"time_zone": "Asia/Tokyo", "password": PASSWORD, "csrf_token": "stale.form"},
        follow_redirects=False,
    )
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location == "/app/settings?problem=csrf_rejected#time-zone"
    kept = _kept(refused, "/app/settings")
    assert kept["fields"] == {"time_zone": "Asia/Tokyo"}  # no password, no CSRF token
    assert PASSWORD not in location and PASSWORD not in refused.headers["set-cookie"]
    for shown in _twice(browser, location):
        assert "This form expired. Please try again." in shown
        assert '<option value="Asia/Tokyo" selected>' in shown
    assert "Times in UTC" in browser.get("/app/activity").text  # nothing was saved
    afresh = browser.get("/app/settings")
    assert '<option value="UTC" selected>' in afresh.text
    assert "kc_refused_form" in afresh.headers["set-cookie"]  # cleared
    # A zone not in the list: the menu is marked invalid and keeps the saved zone.
    unknown = browser.post(
        "/app/settings",
        data={"time_zone": "Mars/Base", "csrf_token": csrf(settings.text)},
        follow_redirects=False,
    )
    assert unknown.headers["location"] == "/app/settings?problem=invalid_time_zone#time-zone"
    shown = browser.get(unknown.headers["location"]).text
    assert "Choose a time zone from the list." in shown
    assert 'name="time_zone" required aria-invalid="true"' in shown
    assert '<option value="UTC" selected>' in shown


def test_issue_14_item_4_a_refused_camera_removal_goes_back_to_the_camera_with_its_fix(
    browser: TestClient,
) -> None:
    sign_up(browser)
    headers = token_for(browser, "web@example.com")
    camera = register_camera(browser, headers, "KC120")["id"]
    card_on_file(browser, headers)
    subscribe(browser, headers, [camera])
    page = browser.get("/app/cameras")
    refused = browser.post(
        f"/app/cameras/{camera}/unbind",
        data={"confirm": "1", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location == f"/app/cameras?problem=camera_subscribed#camera-{camera}"
    assert "kc_refused_form" not in refused.headers.get("set-cookie", "")  # nothing typed
    for shown in _twice(browser, location):
        assert "This camera is on a Kasa Care plan. Remove it from the plan first." in shown
        assert '<a href="/app/kasa-care">Remove it from your plan on Kasa Care</a>' in shown
        assert f'id="camera-{camera}"' in shown  # still there
    assert browser.get("/v1/cameras", headers=headers).json()["items"][0]["id"] == camera


def test_issue_14_item_4_a_refused_record_now_goes_back_to_the_camera_with_the_reason(
    browser: TestClient,
) -> None:
    """A KC105 has no cloud recording (a stale page, or a hand-made post)."""
    sign_up(browser)
    headers = token_for(browser, "web@example.com")
    camera = register_camera(browser, headers, "KC105")["id"]
    token = csrf(browser.get("/app/cameras").text)
    refused = browser.post(
        f"/app/cameras/{camera}/record-now", data={"csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location == f"/app/cameras?problem=no_cloud_recording#camera-{camera}"
    for shown in _twice(browser, location):
        assert "This camera has no cloud recording: add a microSD card, or subscribe" in shown
    gone = uuid.uuid4()
    unknown = browser.post(
        f"/app/cameras/{gone}/record-now", data={"csrf_token": token}, follow_redirects=False
    )
    assert unknown.headers["location"] == f"/app/cameras?problem=camera_not_found#camera-{gone}"
    assert (
        "That camera is no longer on your account." in browser.get(unknown.headers["location"]).text
    )


def test_issue_14_item_4_a_refused_auto_renew_goes_back_to_the_kasa_care_page(
    browser: TestClient,
) -> None:
    sign_up(browser)
    care = browser.get("/app/kasa-care")
    no_plan = browser.post(
        "/app/kasa-care/auto-renew",
        data={"enabled": "0", "csrf_token": csrf(care.text)},
        follow_redirects=False,
    )
    assert no_plan.status_code == 303
    assert no_plan.headers["location"] == "/app/kasa-care?problem=no_subscription#choose"
    for shown in _twice(browser, no_plan.headers["location"]):
        assert "You have no Kasa Care plan now: choose one below." in shown
    headers = token_for(browser, "web@example.com")
    card_on_file(browser, headers)
    subscribe(browser, headers, [register_camera(browser, headers, "KC120")["id"]])
    expired = browser.post(
        "/app/kasa-care/auto-renew", data={"enabled": "0"}, follow_redirects=False
    )
    assert expired.headers["location"] == "/app/kasa-care?problem=csrf_rejected#current"
    for shown in _twice(browser, expired.headers["location"]):
        assert "This form expired. Please try again." in shown
        assert "Turn off auto-renew" in shown
    assert browser.get("/v1/subscription", headers=headers).json()["auto_renew"] is True


def test_issue_14_item_4_a_refused_export_request_goes_back_to_the_export_page(
    browser: TestClient,
) -> None:
    sign_up(browser)
    refused = browser.post("/app/account/export", data={}, follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"] == "/app/account/export?problem=csrf_rejected"
    assert "kc_refused_form" not in refused.headers.get("set-cookie", "")
    for shown in _twice(browser, refused.headers["location"]):
        assert "This form expired. Please try again." in shown
        assert 'data-export="requested"' not in shown  # nothing was asked for
        assert "Export my data" in shown


def _support_case(browser: TestClient, admin_headers: dict[str, str]) -> tuple[str, str, str, str]:
    """A US owner whose camera a $2.99 legacy plan covers, and an agent signed in on the
    web: (the account's page, its CSRF token, the legacy plan's id, the camera's id)."""
    account, headers = owner(browser, "legacy@example.com")
    camera = register_camera(browser, headers, "KC120")["id"]
    legacy = import_legacy(browser, admin_headers, account["id"], [camera], price=299)["id"]
    _agent(browser, admin_headers)
    path = f"/support/accounts/{account['id']}"
    return path, csrf(browser.get(path).text), legacy, camera


def test_issue_14_item_4_a_refused_legacy_resolution_keeps_outcome_amount_and_note(
    browser: TestClient, admin_headers: dict[str, str]
) -> None:
    path, token, legacy, _ = _support_case(browser, admin_headers)
    refused = browser.post(
        f"{path}/actions",
        data={
            "action": "resolve_legacy",
            "legacy_id": legacy,
            "outcome": "refund",
            "amount": "5.00",
            "note": "Refund agreed on the phone",
            "password": PASSWORD,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location == f"{path}?problem=support_amount_over_paid#legacy-{legacy}"
    kept = _kept(refused, path)
    assert kept["fields"] == {
        "action": "resolve_legacy",
        "legacy_id": legacy,
        "outcome": "refund",
        "amount": "5.00",
        "note": "Refund agreed on the phone",
    }
    assert PASSWORD not in refused.headers["set-cookie"] and PASSWORD not in location
    for shown in _twice(browser, location):
        assert "That is more than was paid for this legacy plan, less any earlier refunds" in (
            shown
        )
        assert '<option value="refund" selected>' in shown
        amount = f'id="amount-{legacy}" name="amount" inputmode="decimal" value="5.00"'
        assert f'{amount} aria-invalid="true"' in shown
        assert f'id="note-{legacy}" name="note" required value="Refund agreed on the phone">' in (
            shown
        )
        assert "Paid $2.99" in shown  # still live: nothing was done
    afresh = browser.get(path)
    assert "Refund agreed on the phone" not in afresh.text


def test_issue_14_item_4_a_refused_goodwill_or_force_unbind_keeps_the_note_in_its_form(
    browser: TestClient, admin_headers: dict[str, str]
) -> None:
    """The goodwill cap and a legacy-covered camera, refused before the confirmation page;
    the confirmation step itself is as it was (a page, nothing done yet)."""
    path, token, _, camera = _support_case(browser, admin_headers)
    over = browser.post(
        f"{path}/actions",
        data={
            "action": "goodwill_credit",
            "amount": "500.00",
            "note": "Outage",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert over.headers["location"] == f"{path}?problem=goodwill_limit_exceeded#goodwill"
    for shown in _twice(browser, over.headers["location"]):
        assert "the Goodwill credit box says how much may still be given" in shown
        assert 'value="500.00" aria-invalid="true"' in shown
        assert 'id="goodwill-note" name="note" required value="Outage">' in shown
    covered = browser.post(
        f"{path}/actions",
        data={"action": "force_unbind", "camera_id": camera, "note": "Resold", "csrf_token": token},
        follow_redirects=False,
    )
    location = covered.headers["location"]
    assert location == f"{path}?problem=camera_covered_by_legacy#camera-{camera}"
    for shown in _twice(browser, location):
        assert "A legacy plan covers this camera: resolve the legacy case first" in shown
        assert f'id="unbind-note-{camera}" name="note" required value="Resold">' in shown
        assert 'id="goodwill-note" name="note" required value="">' in shown  # not that form
    no_note = browser.post(
        f"{path}/actions",
        data={"action": "goodwill_credit", "amount": "1.00", "note": " ", "csrf_token": token},
        follow_redirects=False,
    )
    assert no_note.headers["location"] == f"{path}?problem=support_note_required#goodwill"
    shown = browser.get(no_note.headers["location"]).text
    assert "Write a note: every action says why." in shown
    assert 'id="goodwill-note" name="note" required value=" " aria-invalid="true">' in shown
    review = browser.post(
        f"{path}/actions",
        data={"action": "goodwill_credit", "amount": "1.00", "note": "Outage", "csrf_token": token},
    )
    assert review.status_code == 200 and "Give $1.00 goodwill credit" in review.text
    assert re.search(r'name="confirmed" value="1"', review.text)
