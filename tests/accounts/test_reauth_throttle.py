"""Wrong passwords re-entered to confirm a sensitive change are throttled per account (issue 13
item 4): changing the password or the email and deleting the account share one count, in
the API and the web app, with the sign-in's growing delay (`accounts.throttle`). Before this,
a stolen session could guess the password behind it without limit."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from httpx import Response

from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.factories import PASSWORD, owner
from tests.web.conftest import csrf

OWNER = "owner@example.com"
NEW_PASSWORD = "a much better passphrase"
WRONG = "not my password"


def _change_password(client: TestClient, headers: dict[str, str], current: str) -> Response:
    response: Response = client.post(
        "/v1/me/password",
        json={"current_password": current, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    return response


def test_issue_13_item_4_wrong_current_passwords_wait_a_growing_delay(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    _, headers = owner(client, OWNER)
    for _ in range(5):  # FREE_REAUTH: five wrong passwords are answered 403
        wrong = _change_password(client, headers, WRONG)
        assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
    # The sixth try, even with the right password, waits FIRST_DELAY (30 s x 2^(5-5)) after
    # the last failure, unchecked.
    early = _change_password(client, headers, PASSWORD)
    assert (early.status_code, early.json()["code"]) == (429, "too_many_attempts")
    assert early.headers["Retry-After"] == "30"
    clock.advance(timedelta(seconds=29))
    assert _change_password(client, headers, PASSWORD).status_code == 429
    clock.advance(timedelta(seconds=1))
    # A sixth wrong one now makes the next wait 60 s (30 s x 2^(6-5)).
    assert _change_password(client, headers, WRONG).status_code == 403
    assert _change_password(client, headers, PASSWORD).headers["Retry-After"] == "60"
    clock.advance(timedelta(seconds=60))
    assert _change_password(client, headers, PASSWORD).status_code == 204
    # The success cleared the count: a wrong password is a plain 403 again.
    again = client.post(
        "/v1/me/password",
        json={"current_password": WRONG, "new_password": PASSWORD},
        headers=headers,
    )
    assert again.status_code == 403


def test_issue_13_item_4_password_email_deletion_and_the_web_share_one_count(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    _, headers = owner(client, OWNER)
    email = client.post(
        "/v1/me/email", json={"new_email": "new@example.com", "password": WRONG}, headers=headers
    )
    assert (email.status_code, email.json()["code"]) == (403, "wrong_password")
    for _ in range(2):
        deleted = client.request("DELETE", "/v1/me", json={"password": WRONG}, headers=headers)
        assert (deleted.status_code, deleted.json()["code"]) == (403, "wrong_password")
    assert _change_password(client, headers, WRONG).status_code == 403
    # The fifth wrong password through the web app's form, signed in as the same owner.
    client.base_url = client.base_url.copy_with(scheme="https")
    signin = client.get("/signin")
    client.post(
        "/signin", data={"email": OWNER, "password": PASSWORD, "csrf_token": csrf(signin.text)}
    )
    form = client.get("/app/account")
    web = client.post(
        "/app/account/password",
        data={
            "current_password": WRONG,
            "new_password": NEW_PASSWORD,
            "csrf_token": csrf(form.text),
        },
    )
    assert web.url.params["problem"] == "wrong_password"  # post/redirect/get
    assert "That isn&#39;t your current password." in web.text
    # Five failures across four routes: every one of them now waits, the right password too.
    refused = client.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_attempts")
    assert client.get("/v1/me", headers=headers).status_code == 200  # nothing was deleted
    web_wait = client.post(
        "/app/account/email",
        data={"new_email": "new@example.com", "password": PASSWORD, "csrf_token": csrf(form.text)},
    )
    assert web_wait.url.params["problem"] == "too_many_attempts"
    assert "Please try again in 30 seconds." in web_wait.text
    # A fresh sign-in does not clear it: the count belongs to the account, not the session.
    assert client.post("/v1/auth/token", json={"email": OWNER, "password": PASSWORD}).is_success
    assert _change_password(client, headers, PASSWORD).status_code == 429
