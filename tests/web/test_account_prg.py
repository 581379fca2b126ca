"""Post/redirect/get for the sign-in, sign-up, account, rename and deletion forms (issue 14
item 4): a refusal answers 303 to the form's page with `?problem=<code>`, the page shows
the banner, what was typed (never a password, a mailed link's token or the CSRF token) and
the field the refusal is about; the page can be shown again (a refresh) and posts nothing."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from kasacare.accounts.models import MailKind
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.web import kept_forms
from tests.factories import PASSWORD
from tests.mailbox import pending_link
from tests.web.conftest import csrf
from tests.web.test_pages import sign_up

EMAIL = "web@example.com"


def _refused_cookie(response: httpx.Response) -> dict[str, Any] | None:
    """The refused-form cookie the redirect set (sealed: readable, not forgeable)."""
    found = re.search(
        rf"{kept_forms.REFUSED_COOKIE}=([^;]+)", response.headers.get("set-cookie", "")
    )
    if found is None:
        return None
    _, encoded, _ = found.group(1).strip('"').split(".")
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * 4))
    return payload


def _prg(
    browser: TestClient, response: httpx.Response, location: str, *secrets: str
) -> tuple[str, dict[str, Any] | None]:
    """The refusal's redirect goes to `location`, with none of `secrets` in the address or
    the cookie; the page it leads to is shown the same twice (a refresh posts nothing). The
    page's text and the cookie's payload."""
    assert response.status_code == 303
    assert response.headers["location"] == location
    payload = _refused_cookie(response)
    for secret in (PASSWORD, *secrets):
        assert secret not in location
        assert secret not in json.dumps(payload)
    if payload is not None:
        assert "csrf_token" not in payload["fields"]
    first, again = browser.get(location), browser.get(location)
    assert first.status_code == again.status_code == 200
    assert first.text == again.text  # idempotent: the same banner and fields
    return first.text, payload


def _signed_out(browser: TestClient) -> None:
    sign_up(browser, EMAIL)
    browser.cookies.clear()


def test_issue_14_item_4_a_refused_sign_in_keeps_the_email_and_next_not_the_password(
    browser: TestClient,
) -> None:
    _signed_out(browser)
    form = browser.get("/signin", params={"next": "/app/billing"})
    response = browser.post(
        "/signin",
        data={
            "email": EMAIL,
            "password": PASSWORD + "x",
            "next": "/app/billing",
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    location = "/signin?next=%2Fapp%2Fbilling&problem=invalid_credentials"
    text, payload = _prg(browser, response, location, PASSWORD + "x")
    assert payload is not None and payload["fields"] == {"email": EMAIL}
    assert "That email and password don&#39;t match an account." in text
    assert f'value="{EMAIL}"' in text
    assert 'name="next" value="/app/billing"' in text
    # Signed in from the page the refusal led to, the person lands where they were going.
    signed = browser.post(
        "/signin",
        data={
            "email": EMAIL,
            "password": PASSWORD,
            "next": "/app/billing",
            "csrf_token": csrf(text),
        },
        follow_redirects=False,
    )
    assert signed.headers["location"] == "/app/billing"


def test_issue_14_item_4_a_throttled_sign_in_still_says_how_long_to_wait(
    browser: TestClient, clock: FixedClock
) -> None:
    """The seconds to wait travel with the kept email (never in the address): the page counts
    them down from the moment of the refusal, and says when the wait is over."""
    _signed_out(browser)
    form = browser.get("/signin")
    data = {"email": EMAIL, "password": "wrong password", "csrf_token": csrf(form.text)}
    for _ in range(5):  # the free failures
        browser.post("/signin", data=data, follow_redirects=False)
    api = browser.post("/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
    wait = int(api.headers["Retry-After"])
    response = browser.post("/signin", data=data, follow_redirects=False)
    text, payload = _prg(browser, response, "/signin?problem=too_many_attempts", "wrong password")
    assert f"Too many failed attempts. Please try again in {wait} seconds." in text
    assert payload is not None and payload["fields"]["email"] == EMAIL
    assert f'value="{EMAIL}"' in text
    clock.advance(timedelta(seconds=10))
    later = browser.get(response.headers["location"]).text
    assert f"Please try again in {wait - 10} seconds." in later
    clock.advance(timedelta(seconds=wait))
    over = browser.get(response.headers["location"]).text
    assert "Too many failed attempts. You can try again now." in over


def test_issue_14_item_4_a_refused_sign_up_keeps_email_and_country(browser: TestClient) -> None:
    sign_up(browser, EMAIL)
    browser.cookies.clear()
    form = browser.get("/signup")
    taken = browser.post(
        "/signup",
        data={"email": EMAIL, "password": PASSWORD, "country": "DE", "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    text, payload = _prg(browser, taken, "/signup?problem=email_taken")
    assert payload is not None and payload["fields"] == {"email": EMAIL, "country": "DE"}
    assert "There is already an account with this email. Try signing in." in text
    assert 'name="email" aria-invalid="true"' in text and f'value="{EMAIL}"' in text
    assert '<option value="DE" selected>' in text
    short = browser.post(
        "/signup",
        data={
            "email": "new@example.com",
            "password": "short",
            "country": "GB",
            "csrf_token": csrf(text),
        },
        follow_redirects=False,
    )
    text, _ = _prg(browser, short, "/signup?problem=signup_password", "short")
    assert "Choose a password of at least 8 characters." in text
    assert 'name="password" aria-invalid="true"' in text and 'value="new@example.com"' in text
    # Opened afresh (without the refusal in its address), the page is empty and forgets.
    afresh = browser.get("/signup")
    assert "new@example.com" not in afresh.text
    assert kept_forms.REFUSED_COOKIE in afresh.headers["set-cookie"]


def test_issue_14_item_4_a_post_without_its_csrf_token_keeps_nothing(browser: TestClient) -> None:
    """Another site may have sent it: it must not fill in our forms."""
    browser.get("/signup")
    response = browser.post(
        "/signup",
        data={"email": "lure@example.com", "password": PASSWORD, "country": "GB"},
        follow_redirects=False,
    )
    text, payload = _prg(browser, response, "/signup?problem=csrf_rejected")
    assert payload is None
    assert "This form expired. Please try again." in text and "lure@example.com" not in text


def test_issue_14_item_4_a_refused_forgot_password_keeps_the_email(browser: TestClient) -> None:
    form = browser.get("/forgot-password")
    response = browser.post(
        "/forgot-password",
        data={"email": "a@x.com, b@y.org", "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    text, payload = _prg(browser, response, "/forgot-password?problem=invalid_email")
    assert payload is not None and payload["fields"] == {"email": "a@x.com, b@y.org"}
    assert "Enter one email address, like name@example.com." in text
    assert 'name="email" aria-invalid="true"' in text and 'value="a@x.com, b@y.org"' in text


def test_issue_14_item_4_a_refused_reset_keeps_the_token_in_the_address_only(
    browser: TestClient, context: AppContext
) -> None:
    _signed_out(browser)
    form = browser.get("/forgot-password")
    browser.post("/forgot-password", data={"email": EMAIL, "csrf_token": csrf(form.text)})
    token = pending_link(context, EMAIL, MailKind.RESET_PASSWORD)
    page = browser.get("/reset-password", params={"token": token})
    short = browser.post(
        "/reset-password",
        data={"token": token, "new_password": "short", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    location = f"/reset-password?token={token}&problem=password_length"
    text, payload = _prg(browser, short, location, "short")
    assert payload is not None and token not in json.dumps(payload)  # the address has it
    assert payload["fields"] == {"invalid_field": "new_password"}
    assert "Choose a password of 8 to 256 characters." in text
    assert f'name="token" value="{token}"' in text
    assert 'name="new_password" aria-invalid="true"' in text
    done = browser.post(
        "/reset-password",
        data={"token": token, "new_password": "brand new password", "csrf_token": csrf(text)},
    )
    assert "Password changed. Sign in with your new password." in done.text


def test_issue_14_item_4_a_used_mailed_link_goes_back_to_its_page(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser, EMAIL)
    token = pending_link(context, EMAIL, MailKind.VERIFY_EMAIL)
    landing = browser.get("/verify-email", params={"token": token})
    data = {"token": token, "csrf_token": csrf(landing.text)}
    assert "Email verified" in browser.post("/verify-email", data=data).text
    again = browser.post("/verify-email", data=data, follow_redirects=False)
    text, payload = _prg(browser, again, f"/verify-email?token={token}&problem=invalid_link")
    assert payload is None  # nothing typed to keep; the token stays in the address
    assert "This link is invalid, was already used or has expired." in text


def test_issue_14_item_4_a_refused_email_change_keeps_the_new_address(
    browser: TestClient,
) -> None:
    sign_up(browser, EMAIL)
    form = browser.get("/app/account")
    wrong = browser.post(
        "/app/account/email",
        data={"new_email": "new@example.com", "password": "not it", "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    location = "/app/account?problem=wrong_password#change-email"
    text, payload = _prg(browser, wrong, location, "not it")
    assert payload is not None and payload["fields"] == {
        "new_email": "new@example.com",
        "invalid_field": "password",
    }
    assert "That isn&#39;t your current password." in text
    assert 'value="new@example.com"' in text
    assert 'id="email-password" name="password" aria-invalid="true"' in text


def test_issue_14_item_4_a_refused_password_change_keeps_no_password(
    browser: TestClient,
) -> None:
    sign_up(browser, EMAIL)
    form = browser.get("/app/account")
    wrong = browser.post(
        "/app/account/password",
        data={
            "current_password": "not it",
            "new_password": "another password",
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    location = "/app/account?problem=wrong_password#change-password"
    text, payload = _prg(browser, wrong, location, "not it", "another password")
    assert payload is not None and payload["fields"] == {"invalid_field": "current_password"}
    assert "That isn&#39;t your current password." in text
    assert 'name="current_password" aria-invalid="true"' in text
    assert 'id="email-password" name="password" type' in text  # the other form: unmarked
    short = browser.post(
        "/app/account/password",
        data={"current_password": PASSWORD, "new_password": "short", "csrf_token": csrf(text)},
        follow_redirects=False,
    )
    text, _ = _prg(browser, short, "/app/account?problem=password_length#change-password")
    assert 'name="new_password" aria-invalid="true"' in text


def test_issue_14_item_4_a_refused_language_goes_back_to_its_form(browser: TestClient) -> None:
    sign_up(browser, EMAIL)
    form = browser.get("/app/account")
    refused = browser.post(
        "/app/account/language",
        data={"language": "xx", "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    text, _ = _prg(browser, refused, "/app/account?problem=invalid_language#change-language")
    assert "Choose a language from the list." in text
    assert 'name="language" aria-invalid="true"' in text


def test_issue_14_item_4_a_refused_camera_name_is_kept(browser: TestClient) -> None:
    sign_up(browser, EMAIL)
    page = browser.get("/app/cameras")
    added = browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": "PRG0001",
            "name": "Porch",
            "csrf_token": csrf(page.text),
        },
    )
    path = re.search(r'href="(/app/cameras/[^"]+/rename)"', added.text).group(1)  # type: ignore[union-attr]
    form = browser.get(path)
    long_name = "Garden " * 20
    refused = browser.post(
        path, data={"name": long_name, "csrf_token": csrf(form.text)}, follow_redirects=False
    )
    text, payload = _prg(browser, refused, f"{path}?problem=camera_name")
    assert payload is not None and payload["fields"]["name"] == long_name
    assert "Give the camera a name of 1 to 100 printable characters." in text
    assert f'name="name" aria-invalid="true" required maxlength="100" value="{long_name}"' in text
    assert "Porch" in browser.get("/app/cameras").text  # nothing was renamed


def test_issue_14_item_4_a_refused_deletion_goes_back_to_the_page(browser: TestClient) -> None:
    sign_up(browser, EMAIL)
    form = browser.get("/app/account/delete")
    wrong = browser.post(
        "/app/account/delete",
        data={"password": "not it", "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    text, payload = _prg(browser, wrong, "/app/account/delete?problem=wrong_password", "not it")
    assert payload is not None and payload["fields"] == {"invalid_field": "password"}
    assert "That isn&#39;t your current password." in text
    assert 'name="password" aria-invalid="true"' in text
    assert "Delete your account" in text and browser.get("/app/account").status_code == 200
