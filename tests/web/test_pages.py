"""The web app in-process: forms with CSRF, the same services as the API, refusals for a
person. (The real-browser tests are in tests/web/test_browser.py.)"""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from kasacare.context import AppContext
from tests.factories import PASSWORD
from tests.web.conftest import csrf


def sign_up(browser: TestClient, email: str = "web@example.com") -> None:
    form = browser.get("/signup")
    response = browser.post(
        "/signup",
        data={"email": email, "password": PASSWORD, "country": "GB", "csrf_token": csrf(form.text)},
    )
    assert response.status_code == 200, response.text  # followed the redirect
    assert "Welcome to Kasa Care" in response.text


def test_sign_up_sets_a_secure_httponly_samesite_session(browser: TestClient) -> None:
    form = browser.get("/signup")
    response = browser.post(
        "/signup",
        data={
            "email": "a@example.com",
            "password": PASSWORD,
            "country": "GB",
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "kc_session=" in cookie
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie


def test_a_form_without_its_csrf_token_is_refused(browser: TestClient) -> None:
    browser.get("/signup")
    response = browser.post(
        "/signup", data={"email": "a@example.com", "password": PASSWORD, "country": "GB"}
    )
    assert response.status_code == 403
    assert "This form expired" in response.text


def test_pages_need_a_signed_in_owner(browser: TestClient) -> None:
    response = browser.get("/app/kasa-care", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fapp%2Fkasa-care"


def test_wrong_password_is_worded_for_a_person(browser: TestClient) -> None:
    sign_up(browser, "p@example.com")
    browser.cookies.clear()
    form = browser.get("/signin")
    response = browser.post(
        "/signin",
        data={"email": "p@example.com", "password": "nope", "csrf_token": csrf(form.text)},
    )
    assert response.status_code == 401
    assert "That email and password don&#39;t match an account." in response.text


def test_cameras_show_their_entitlement_in_words(browser: TestClient) -> None:
    sign_up(browser)
    page = browser.get("/app/cameras")
    added = browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": "WEB0001",
            "name": "Porch",
            "csrf_token": csrf(page.text),
        },
    )
    assert "Free plan: last 2 days, until 1 Mar 2028" in added.text
    sd = browser.post(
        "/app/cameras",
        data={"model": "KC105", "serial": "WEB0002", "name": "Hall", "csrf_token": csrf(page.text)},
    )
    # Issue 14 item 4: the microSD card records locally, never to the cloud.
    assert (
        "No cloud recording on this model&#39;s free plan (it records to its microSD card)."
        " Subscribe to Kasa Care to record to the cloud" in sd.text
    )
    unknown = browser.post(
        "/app/cameras",
        data={"model": "KC999", "serial": "WEB0003", "csrf_token": csrf(page.text)},
    )
    assert unknown.status_code == 422
    assert "We don&#39;t know that camera model" in unknown.text


def test_kasa_care_shows_plans_in_the_accounts_currency_and_quotes_before_confirming(
    browser: TestClient,
) -> None:
    sign_up(browser)
    page = browser.get("/app/cameras")
    browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": "WEB0100",
            "name": "Porch",
            "csrf_token": csrf(page.text),
        },
    )
    care = browser.get("/app/kasa-care")
    assert "£3.49 / month" in care.text and "£9.99 / month" in care.text
    assert "Select Services" in care.text
    token = browser.post(
        "/v1/sandbox/tokens",
        json={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    ).json()["token"]
    billing = browser.get("/app/billing")
    saved = browser.post(
        "/app/billing/card", data={"token": token, "csrf_token": csrf(billing.text)}
    )
    assert "Visa (credit) ending in 4242" in saved.text
    camera_id = re.search(r'name="camera_ids" value="([^"]+)"', care.text).group(1)  # type: ignore[union-attr]
    review = browser.post(
        "/app/kasa-care/review",
        data={
            "action": "create",
            "plan": "plus",
            "cycle": "monthly",
            "camera_ids": camera_id,
            "csrf_token": csrf(care.text),
        },
    )
    assert review.status_code == 200
    assert '<dd data-quote="charge">£3.49</dd>' in review.text
    assert browser.get("/v1/subscription").status_code == 401  # the quote changed nothing
    done = browser.post(
        "/app/kasa-care/apply",
        data={
            "action": "create",
            "plan": "plus",
            "cycle": "monthly",
            "camera_ids": camera_id,
            "csrf_token": csrf(review.text),
        },
    )
    assert "Your plan: Kasa Care Plus (monthly)" in done.text
    invoices = browser.get("/app/billing")
    assert "INV-000001" in invoices.text


def _agent(browser: TestClient, admin_headers: dict[str, str]) -> None:
    browser.post(
        "/v1/admin/support-agents",
        json={"email": "agent@kasa.example", "password": PASSWORD},
        headers=admin_headers,
    )
    browser.cookies.clear()
    form = browser.get("/signin")
    signed = browser.post(
        "/signin",
        data={"email": "agent@kasa.example", "password": PASSWORD, "csrf_token": csrf(form.text)},
    )
    assert "Support console" in signed.text


def test_support_goodwill_credit_and_force_unbind_are_audited(
    browser: TestClient, admin_headers: dict[str, str], context: AppContext
) -> None:
    sign_up(browser, "customer@example.com")
    page = browser.get("/app/cameras")
    browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": "RESOLD01",
            "name": "Garage",
            "csrf_token": csrf(page.text),
        },
    )
    _agent(browser, admin_headers)
    found = browser.get("/support", params={"q": "resold01"})  # by camera serial
    account_path = re.search(r'href="(/support/accounts/[^"]+)"', found.text).group(1)  # type: ignore[union-attr]
    account_page = browser.get(account_path)
    assert "customer@example.com" in account_page.text
    token = csrf(account_page.text)
    no_note = browser.post(
        f"{account_path}/actions",
        data={"action": "goodwill_credit", "amount": "5.00", "note": "", "csrf_token": token},
    )
    assert no_note.status_code == 422 and "Write a note" in no_note.text
    credited = browser.post(
        f"{account_path}/actions",
        data={
            "action": "goodwill_credit",
            "amount": "5.00",
            "note": "Outage in March",
            "csrf_token": token,
        },
    )
    assert "balance £5.00" in credited.text
    assert "goodwill_credit — Outage in March" in credited.text
    camera_id = re.search(r'name="camera_id" value="([^"]+)"', credited.text).group(1)  # type: ignore[union-attr]
    unbound = browser.post(
        f"{account_path}/actions",
        data={
            "action": "force_unbind",
            "camera_id": camera_id,
            "note": "Resold on eBay",
            "csrf_token": token,
        },
    )
    assert "force_unbind — Resold on eBay" in unbound.text
    assert "RESOLD01" not in unbound.text.split("Timeline")[0]
    log = browser.get("/v1/admin/audit-log", headers=admin_headers).json()["items"]
    assert {e["action"] for e in log} >= {"goodwill_credit", "force_unbind"}
    assert all(e["actor"].startswith("support:") for e in log)


def test_support_console_refuses_an_amount_beyond_bounds_and_over_the_goodwill_cap(
    browser: TestClient, admin_headers: dict[str, str]
) -> None:
    sign_up(browser, "customer@example.com")  # GB, no plan: the cap is Plus annual, £34.99
    _agent(browser, admin_headers)
    found = browser.get("/support", params={"q": "customer@example.com"})
    account_path = re.search(r'href="(/support/accounts/[^"]+)"', found.text).group(1)  # type: ignore[union-attr]
    token = csrf(browser.get(account_path).text)

    def credit(amount: str) -> httpx.Response:
        response: httpx.Response = browser.post(
            f"{account_path}/actions",
            data={"action": "goodwill_credit", "amount": amount, "note": "x", "csrf_token": token},
        )
        return response

    huge = credit("99999999999999999999")
    assert huge.status_code == 422 and "Write the amount like 12.50" in huge.text
    over = credit("35.00")
    assert over.status_code == 409 and "£34.99" in over.text
    assert "balance £0.00" in over.text  # nothing was written
    assert credit("34.99").status_code == 200
