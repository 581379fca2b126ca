"""Account self-service pages in-process (issue 13 item 1): the unverified banner and its
resend, the landing pages of mailed links (a click, never the GET, redeems), forgot and
reset password, the account page's forms, sessions, renaming a camera, and the sign-up
form's server-side email check. (Reset and change of email in a real browser:
tests/web/test_browser_account.py.)"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from kasacare.accounts.models import MailKind
from kasacare.context import AppContext
from tests.factories import PASSWORD
from tests.mailbox import outbox, pending_link
from tests.web.conftest import csrf

EMAIL = "web@example.com"
BANNER = "Please confirm your email address"


def sign_up(browser: TestClient, email: str = EMAIL) -> str:
    form = browser.get("/signup")
    response = browser.post(
        "/signup",
        data={"email": email, "password": PASSWORD, "country": "GB", "csrf_token": csrf(form.text)},
    )
    text: str = response.text
    assert "Welcome to Kasa Care" in text, text
    return text


@pytest.mark.parametrize("bad", ["not-an-email", "a@x.com, b@y.org"])
def test_issue_13_item_1_the_sign_up_form_refuses_what_is_not_one_address(
    browser: TestClient, context: AppContext, bad: str
) -> None:
    form = browser.get("/signup")
    response = browser.post(
        "/signup",
        data={"email": bad, "password": PASSWORD, "country": "GB", "csrf_token": csrf(form.text)},
    )
    assert str(response.url) == "https://testserver/signup?problem=invalid_email"  # PRG
    assert "Enter one email address, like name@example.com." in response.text
    assert f'value="{bad}"' in response.text  # kept for correcting
    assert outbox(context) == []  # nothing mailed to anyone


def test_issue_13_item_1_an_unverified_owner_sees_a_banner_until_the_link_is_followed(
    browser: TestClient, context: AppContext
) -> None:
    welcome = sign_up(browser)
    assert BANNER in welcome and EMAIL in welcome
    first = pending_link(context, EMAIL, MailKind.VERIFY_EMAIL)
    resent = browser.post("/app/account/verify", data={"csrf_token": csrf(welcome)})
    assert "We sent you a new link" in resent.text
    token = pending_link(context, EMAIL, MailKind.VERIFY_EMAIL)
    assert token != first
    landing = browser.get("/verify-email", params={"token": token})
    assert "Confirm my email address" in landing.text
    assert BANNER in browser.get("/app/cameras").text  # the GET changed nothing
    done = browser.post("/verify-email", data={"token": token, "csrf_token": csrf(landing.text)})
    assert "Email verified" in done.text
    assert BANNER not in done.text and "(confirmed)" in done.text
    again = browser.post("/verify-email", data={"token": token, "csrf_token": csrf(landing.text)})
    assert again.url.path == "/verify-email" and again.url.params["problem"] == "invalid_link"
    assert "This link is invalid, was already used or has expired" in again.text


def test_issue_13_item_1_forgot_password_answers_the_same_for_any_address_then_resets(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    browser.cookies.clear()
    answers = []
    for email in (EMAIL, "nobody@example.com"):
        form = browser.get("/forgot-password")
        answers.append(
            browser.post("/forgot-password", data={"email": email, "csrf_token": csrf(form.text)})
        )
    assert [a.status_code for a in answers] == [200, 200]
    assert all("we have sent it a link" in a.text for a in answers)
    token = pending_link(context, EMAIL, MailKind.RESET_PASSWORD)
    page = browser.get("/reset-password", params={"token": token})
    short = browser.post(
        "/reset-password",
        data={"token": token, "new_password": "short", "csrf_token": csrf(page.text)},
    )
    assert short.url.params["problem"] == "password_length" and "8 to 256 characters" in short.text
    done = browser.post(
        "/reset-password",
        data={"token": token, "new_password": "brand new password", "csrf_token": csrf(page.text)},
    )
    assert "Password changed. Sign in with your new password." in done.text
    form = browser.get("/signin")
    signed = browser.post(
        "/signin",
        data={"email": EMAIL, "password": "brand new password", "csrf_token": csrf(form.text)},
    )
    assert signed.status_code == 200 and "Kasa Care" in signed.text


def test_issue_13_item_1_the_account_page_changes_the_password_and_keeps_typed_input(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    page = browser.get("/app/account")
    wrong = browser.post(
        "/app/account/password",
        data={
            "current_password": "not it",
            "new_password": "another password",
            "csrf_token": csrf(page.text),
        },
    )
    assert str(wrong.url) == "https://testserver/app/account?problem=wrong_password#change-password"
    assert "That isn&#39;t your current password." in wrong.text
    bad_email = browser.post(
        "/app/account/email",
        data={"new_email": "a@x.com, b@y.org", "password": PASSWORD, "csrf_token": csrf(page.text)},
    )
    assert bad_email.url.params["problem"] == "invalid_email"
    assert 'value="a@x.com, b@y.org"' in bad_email.text  # kept for correcting
    changed = browser.post(
        "/app/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another password",
            "csrf_token": csrf(page.text),
        },
    )
    assert "Password changed" in changed.text  # still signed in: this session stays
    language = browser.post(
        "/app/account/language", data={"language": "en-GB", "csrf_token": csrf(page.text)}
    )
    assert "Language saved" in language.text
    assert '<option value="en-GB" selected>' in language.text


def test_issue_13_item_1_sign_out_everywhere_ends_this_browser_and_the_app(
    browser: TestClient,
) -> None:
    sign_up(browser)
    app = browser.post("/v1/auth/token", json={"email": EMAIL, "password": PASSWORD}).json()
    app_headers = {"Authorization": f"Bearer {app['access_token']}"}
    page = browser.get("/app/account/sessions")
    assert page.text.count('aria-label="Sign out the session of') == 2
    assert "(this browser)" in page.text
    done = browser.post(
        "/app/account/sessions/sign-out-everywhere", data={"csrf_token": csrf(page.text)}
    )
    assert "Signed out everywhere" in done.text
    assert browser.get("/v1/me", headers=app_headers).status_code == 401
    assert browser.get("/app/account", follow_redirects=False).status_code == 303


def test_issue_13_item_1_a_camera_is_renamed_from_its_page(browser: TestClient) -> None:
    sign_up(browser)
    page = browser.get("/app/cameras")
    added = browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": "REN0001",
            "name": "Porch",
            "csrf_token": csrf(page.text),
        },
    )
    path = re.search(r'href="(/app/cameras/[^"]+/rename)"', added.text).group(1)  # type: ignore[union-attr]
    form = browser.get(path)
    assert 'value="Porch"' in form.text
    blank = browser.post(path, data={"name": "  ", "csrf_token": csrf(form.text)})
    assert blank.url.path == path and blank.url.params["problem"] == "camera_name"
    assert "Give the camera a name of 1 to 100 printable characters." in blank.text
    done = browser.post(path, data={"name": "Front door", "csrf_token": csrf(form.text)})
    assert "Camera renamed" in done.text and "Front door" in done.text
