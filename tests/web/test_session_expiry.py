"""A session that ends sends the person back where they were (issue 13, hardening): the
sign-in page says why and, once signed in, returns to the page they were on; only pages of
ours are returned to."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kasacare.kit.clock import FixedClock
from kasacare.web import kept_forms
from kasacare.web.guard import safe_next
from tests.factories import PASSWORD
from tests.web.conftest import csrf
from tests.web.test_pages import sign_up


def _sign_in(browser: TestClient, next_page: str | None) -> str:
    """Sign in through the form the redirect led to; the address it ends on."""
    form = browser.get("/signin", params={"next": next_page} if next_page else None)
    data = {"email": "web@example.com", "password": PASSWORD, "csrf_token": csrf(form.text)}
    if next_page is not None:
        data["next"] = next_page
    response = browser.post("/signin", data=data, follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    return location


def test_an_expired_session_is_named_and_the_page_comes_back_after_sign_in(
    browser: TestClient, clock: FixedClock
) -> None:
    sign_up(browser)
    clock.advance(timedelta(hours=13))  # past the 12 h access token
    away = browser.get("/app/activity?kind=manual", follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == (
        "/signin?next=%2Fapp%2Factivity%3Fkind%3Dmanual&problem=session_expired"
    )
    page = browser.get(away.headers["location"])
    assert "You were signed out. Sign in again to go on where you were." in page.text
    assert 'name="next" value="/app/activity?kind=manual"' in page.text
    assert _sign_in(browser, "/app/activity?kind=manual") == "/app/activity?kind=manual"


def test_a_form_posted_after_the_session_ended_returns_to_the_form_page(
    browser: TestClient, clock: FixedClock
) -> None:
    sign_up(browser)
    form = browser.get("/app/cameras")
    clock.advance(timedelta(hours=13))
    posted = browser.post(
        "/app/cameras",
        data={"model": "KC120", "serial": "S1", "name": "Porch", "csrf_token": csrf(form.text)},
        headers={"Referer": "https://testserver/app/cameras"},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    assert posted.headers["location"].startswith("/signin?next=%2Fapp%2Fcameras&problem=")


def test_someone_never_signed_in_is_not_told_a_session_ended(browser: TestClient) -> None:
    away = browser.get("/app/billing", follow_redirects=False)
    assert away.headers["location"] == "/signin?next=%2Fapp%2Fbilling"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("/app/billing", "/app/billing"),
        ("/app/activity?day=2026-12-01", "/app/activity?day=2026-12-01"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/\\evil.example", None),
        ("app/billing", None),
        ("/app\nSet-Cookie: x", None),
        ("", None),
        (None, None),
    ],
)
def test_only_local_paths_are_returned_to(value: str | None, kept: str | None) -> None:
    assert safe_next(value) == kept


def test_a_foreign_next_is_ignored_after_sign_in(browser: TestClient) -> None:
    sign_up(browser)
    browser.post("/signout", data={"csrf_token": csrf(browser.get("/app/cameras").text)})
    assert _sign_in(browser, "https://evil.example/") == "/app/kasa-care"  # the home page


def _kept_payload(browser: TestClient) -> dict[str, Any]:
    """What the kept-form cookie carries (sealed: readable, not forgeable)."""
    _, encoded, _ = browser.cookies[kept_forms.COOKIE].split(".")
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * 4))
    return payload


def test_issue_13_item_4_a_form_posted_after_the_session_ended_comes_back_filled(
    browser: TestClient, clock: FixedClock
) -> None:
    """The typed fields travel through the sign-in in a sealed cookie, never the password or
    the CSRF token, and come back once into the same form, with a banner."""
    sign_up(browser)
    form = browser.get("/app/account")
    clock.advance(timedelta(hours=13))
    posted = browser.post(
        "/app/account/email",
        data={
            "new_email": "new-address@example.com",
            "password": PASSWORD,
            "csrf_token": csrf(form.text),
        },
        headers={"Referer": "https://testserver/app/account"},
        follow_redirects=False,
    )
    assert posted.headers["location"] == "/signin?next=%2Fapp%2Faccount&problem=session_expired"
    payload = _kept_payload(browser)
    assert payload["fields"] == {"new_email": ["new-address@example.com"]}
    assert (payload["page"], payload["action"]) == ("/app/account", "/app/account/email")
    assert PASSWORD not in json.dumps(payload)
    assert _sign_in(browser, "/app/account") == "/app/account"
    back = browser.get("/app/account")
    assert "We kept what you typed (not passwords)" in back.text
    data = re.search(r'<script type="application/json" id="kept-form">(.*?)</script>', back.text)
    assert data is not None
    assert json.loads(data.group(1)) == {
        "action": "/app/account/email",
        "fields": {"new_email": ["new-address@example.com"]},
    }
    assert '<script src="/static/kept-form.js" defer></script>' in back.text
    again = browser.get("/app/account")  # shown once: the cookie was cleared
    assert "kept-form" not in again.text


def test_issue_13_item_4_a_kept_form_that_was_tampered_with_or_is_old_is_ignored(
    browser: TestClient, clock: FixedClock
) -> None:
    sign_up(browser)
    form = browser.get("/app/cameras")
    clock.advance(timedelta(hours=13))
    browser.post(
        "/app/cameras",
        data={"model": "KC120", "serial": "S1", "name": "Porch", "csrf_token": csrf(form.text)},
        headers={"Referer": "https://testserver/app/cameras"},
        follow_redirects=False,
    )
    sealed = browser.cookies[kept_forms.COOKIE]
    kid, _, mac = sealed.split(".")
    payload = _kept_payload(browser)
    assert payload["fields"] == {"model": ["KC120"], "serial": ["S1"], "name": ["Porch"]}
    forged = dict(payload, fields={"name": ["<script>alert(1)</script>"]})
    forged_encoded = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    browser.cookies.set(kept_forms.COOKIE, f"{kid}.{forged_encoded}.{mac}")
    _sign_in(browser, "/app/cameras")
    assert "kept-form" not in browser.get("/app/cameras").text
    browser.cookies.set(kept_forms.COOKIE, sealed)  # genuine, but 30 minutes is over
    clock.advance(kept_forms.TTL)
    assert "kept-form" not in browser.get("/app/cameras").text


def test_issue_13_item_4_a_billing_address_posted_after_the_session_ended_keeps_its_postcode(
    browser: TestClient, clock: FixedClock
) -> None:
    """The address's postal code and VAT number come back with the rest; a field named like
    a code or a card number still never does (a claim code, say)."""
    sign_up(browser)
    form = browser.get("/app/billing")
    clock.advance(timedelta(hours=13))
    browser.post(
        "/app/billing/address",
        data={
            "name": "Ada Lovelace",
            "postal_code": "SW1A 1AA",
            "vat_number": "GB123456789",
            "claim_code": "ABCD2345",
            "csrf_token": csrf(form.text),
        },
        headers={"Referer": "https://testserver/app/billing"},
        follow_redirects=False,
    )
    assert _kept_payload(browser)["fields"] == {
        "name": ["Ada Lovelace"],
        "postal_code": ["SW1A 1AA"],
        "vat_number": ["GB123456789"],
    }
