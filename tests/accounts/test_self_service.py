"""Account self-service (issue 13 item 1) through the API, on SQLite and PostgreSQL: email
verification at sign-up, password reset by mail, changing the password and the email,
sessions, renaming a camera, the language, and server-side email validation. Links travel
through a real SMTP server (aiosmtpd) where the mail itself is the point."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.accounts.mails import deliver_account_mails
from kasacare.accounts.models import AccountToken, MailKind
from kasacare.context import AppContext
from kasacare.jobs import deliver_mail, run_due
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import session_scope
from kasacare.notifications.mail import deliver_pending
from tests.factories import (
    PASSWORD,
    card_on_file,
    owner,
    register_camera,
    sign_up,
    subscribe,
    token_for,
)
from tests.mailbox import outbox, pending_link, token_in, verify
from tests.notifications.test_mail import SmtpServer

OWNER = "owner@example.com"
NEW_PASSWORD = "a much better passphrase"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def _deliver(context: AppContext, server: SmtpServer, now: datetime) -> int:
    return deliver_account_mails(
        context.sessions, server.sender, now, public_url="https://care.example.com"
    )


def _mail_to(server: SmtpServer, address: str) -> list[str]:
    return [str(m["Subject"]) for to, m in server.inbox.received if to == [address]]


def _me(client: TestClient, headers: dict[str, str]) -> dict[str, object]:
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


# --- verifying the address ----------------------------------------------------------------


def test_issue_13_item_1_sign_up_mails_a_link_that_verifies_the_address_once(
    client: TestClient, context: AppContext, clock: FixedClock, smtp: SmtpServer
) -> None:
    _, headers = owner(client, OWNER)
    assert _me(client, headers)["email_verified"] is False
    assert _deliver(context, smtp, clock.now()) == 1
    ((to, message),) = smtp.inbox.received
    assert to == [OWNER]
    assert message["Subject"] == "Confirm your email address for Kasa Care"
    assert "https://care.example.com/verify-email?token=kc_link_" in message.get_content()
    token = token_in(message)
    # Stored only as a hash; the outbox forgot the link once the mail was sent.
    with session_scope(context.sessions) as session:
        digests = list(session.scalars(select(AccountToken.digest)))
    assert token not in digests and len(digests) == 1
    assert [mail.link_token for mail in outbox(context)] == [None]

    assert client.post("/v1/auth/verify-email", json={"token": token}).status_code == 204
    assert _me(client, headers)["email_verified"] is True
    again = client.post("/v1/auth/verify-email", json={"token": token})
    assert (again.status_code, again.json()["code"]) == (400, "invalid_link")


def test_issue_13_item_1_a_verification_link_lasts_24_hours_and_a_new_one_replaces_it(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    _, headers = owner(client, OWNER)
    first = pending_link(context, OWNER, MailKind.VERIFY_EMAIL)
    assert client.post("/v1/me/verify-email", headers=headers).status_code == 202
    second = pending_link(context, OWNER, MailKind.VERIFY_EMAIL)
    assert second != first
    # The replaced link's unsent mail is withdrawn: one link mail waits.
    assert [m.kind for m in outbox(context) if m.link_token] == [MailKind.VERIFY_EMAIL]
    refused = client.post("/v1/auth/verify-email", json={"token": first})
    assert refused.status_code == 400
    clock.advance(timedelta(hours=24))
    late = client.post("/v1/auth/verify-email", json={"token": second})
    assert (late.status_code, late.json()["code"]) == (400, "invalid_link")
    assert _me(client, token_for(client, OWNER))["email_verified"] is False


def test_issue_13_item_1_notification_mail_waits_for_a_verified_address(
    client: TestClient, context: AppContext, clock: FixedClock, smtp: SmtpServer
) -> None:
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    _, headers = owner(client, OWNER)
    card_on_file(client, headers)
    subscribe(client, headers, [register_camera(client, headers)["id"]], trial=True)
    due = datetime(2026, 4, 29, tzinfo=UTC)
    run_due(context, due)  # trial_ending, listed in the app
    assert len(client.get("/v1/notifications", headers=headers).json()["items"]) == 1
    assert deliver_pending(context.sessions, smtp.sender, due) == 0  # held, nothing tried
    assert smtp.inbox.offered == []
    verify(client, context, OWNER)
    assert deliver_pending(context.sessions, smtp.sender, due) == 1
    assert smtp.subjects() == ["Your Kasa Care trial ends on 1 May 2026"]


def test_issue_13_item_1_without_smtp_the_test_clock_logs_account_mail_at_info(
    client: TestClient, context: AppContext, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(client, OWNER)
    assert deliver_mail(context, clock.now()) == 0  # production without SMTP: it waits
    assert outbox(context)[0].delivered_at is None
    development = dataclasses.replace(
        context, settings=context.settings.model_copy(update={"test_clock": True})
    )
    caplog.set_level(logging.INFO, logger="kasacare.mail")
    assert deliver_mail(development, clock.now()) == 1
    (record,) = [r for r in caplog.records if r.name == "kasacare.mail"]
    assert record.levelno == logging.INFO
    assert f"to {OWNER}" in record.getMessage()
    assert "http://localhost:8000/verify-email?token=kc_link_" in record.getMessage()


# --- password reset -------------------------------------------------------------------------


def test_issue_13_item_1_password_reset_answers_202_for_any_address(
    client: TestClient, context: AppContext
) -> None:
    sign_up(client, OWNER)
    before = len(outbox(context))
    for email in (OWNER, "nobody@example.com"):
        response = client.post("/v1/auth/password-reset", json={"email": email})
        assert (response.status_code, response.content) == (202, b"")
    # A mail for the account only; the unknown address got nothing.
    assert [m.to_address for m in outbox(context)[before:]] == [OWNER]


def test_issue_13_item_1_a_reset_link_sets_the_password_once_and_signs_out_everywhere(
    client: TestClient, context: AppContext, clock: FixedClock, smtp: SmtpServer
) -> None:
    _, app = owner(client, OWNER)
    browser = token_for(client, OWNER)
    assert client.post("/v1/auth/password-reset", json={"email": OWNER}).status_code == 202
    _deliver(context, smtp, clock.now())
    (message,) = [m for _, m in smtp.inbox.received if "Reset" in str(m["Subject"])]
    assert "/reset-password?token=" in message.get_content()
    token = token_in(message)
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/v1/auth/password-reset/confirm", json=body).status_code == 204
    for headers in (app, browser):
        assert client.get("/v1/me", headers=headers).status_code == 401
    old = client.post("/v1/auth/token", json={"email": OWNER, "password": PASSWORD})
    assert old.status_code == 401
    signed_in = token_for(client, OWNER, NEW_PASSWORD)
    # Following the link proved the mailbox.
    assert _me(client, signed_in)["email_verified"] is True
    reused = client.post("/v1/auth/password-reset/confirm", json=body)
    assert (reused.status_code, reused.json()["code"]) == (400, "invalid_link")


def test_issue_13_item_1_a_reset_link_expires_after_30_minutes(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    sign_up(client, OWNER)
    client.post("/v1/auth/password-reset", json={"email": OWNER})
    token = pending_link(context, OWNER, MailKind.RESET_PASSWORD)
    clock.advance(timedelta(minutes=30))
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/v1/auth/password-reset/confirm", json=body).status_code == 400
    token_for(client, OWNER)  # the password is unchanged
    # A link mail past its token's life is not sent.
    assert sorted(m.kind for m in outbox(context) if m.delivered_at is None) == [
        MailKind.RESET_PASSWORD,
        MailKind.VERIFY_EMAIL,
    ]
    assert (
        deliver_account_mails(
            context.sessions, _RefusingSender(), clock.now(), public_url="https://x.example"
        )
        == 0
    )


class _RefusingSender:
    """Fails the test if any mail is offered."""

    def send(self, message: object) -> None:
        raise AssertionError(f"nothing should be sent, got {message}")


# --- password and email changes -------------------------------------------------------------


def test_issue_13_item_1_changing_the_password_needs_the_current_one_and_keeps_this_session(
    client: TestClient, context: AppContext
) -> None:
    _, this = owner(client, OWNER)
    verify(client, context, OWNER)
    other = token_for(client, OWNER)
    wrong = client.post(
        "/v1/me/password",
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        headers=this,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
    short = client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=this,
    )
    assert short.status_code == 422
    changed = client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=this,
    )
    assert changed.status_code == 204, changed.text
    assert client.get("/v1/me", headers=this).status_code == 200
    assert client.get("/v1/me", headers=other).status_code == 401
    token_for(client, OWNER, NEW_PASSWORD)
    assert MailKind.PASSWORD_CHANGED in [m.kind for m in outbox(context, OWNER)]


def test_issue_13_item_1_a_new_email_takes_effect_when_its_link_is_followed(
    client: TestClient, context: AppContext, clock: FixedClock, smtp: SmtpServer
) -> None:
    _, headers = owner(client, OWNER)
    verify(client, context, OWNER)
    new = "new-address@example.com"
    wrong = client.post(
        "/v1/me/email", json={"new_email": new, "password": "nope"}, headers=headers
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
    asked = client.post(
        "/v1/me/email",
        json={"new_email": "New-Address@Example.com", "password": PASSWORD},
        headers=headers,
    )
    assert asked.status_code == 202, asked.text
    assert _me(client, headers)["email"] == OWNER  # nothing changes before the link
    _deliver(context, smtp, clock.now())
    (message,) = [m for to, m in smtp.inbox.received if to == [new]]
    assert message["Subject"] == "Confirm your new email address for Kasa Care"
    assert "/confirm-email?token=" in message.get_content()
    confirmed = client.post("/v1/auth/email-change/confirm", json={"token": token_in(message)})
    assert confirmed.status_code == 204, confirmed.text
    me = _me(client, headers)
    assert (me["email"], me["email_verified"]) == (new, True)
    token_for(client, new)
    assert (
        client.post("/v1/auth/token", json={"email": OWNER, "password": PASSWORD}).status_code
        == 401
    )
    # The old address is told, naming the new one.
    _deliver(context, smtp, clock.now())
    (told,) = [m for to, m in smtp.inbox.received if to == [OWNER]][-1:]
    assert told["Subject"] == "Your Kasa Care email address was changed"
    assert new in told.get_content()


def test_issue_13_item_1_a_taken_address_answers_the_same_and_gets_no_mail(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client, OWNER)
    sign_up(client, "taken@example.com")
    before = len(outbox(context))
    body = {"new_email": "taken@example.com", "password": PASSWORD}
    response = client.post("/v1/me/email", json=body, headers=headers)
    assert (response.status_code, response.content) == (202, b"")
    assert len(outbox(context)) == before


def test_issue_13_item_1_an_address_taken_before_the_link_is_followed_answers_409(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client, OWNER)
    body = {"new_email": "race@example.com", "password": PASSWORD}
    assert client.post("/v1/me/email", json=body, headers=headers).status_code == 202
    token = pending_link(context, "race@example.com", MailKind.CONFIRM_NEW_EMAIL)
    sign_up(client, "race@example.com")  # someone signs up with it meanwhile
    late = client.post("/v1/auth/email-change/confirm", json={"token": token})
    assert (late.status_code, late.json()["code"]) == (409, "email_taken")
    assert _me(client, headers)["email"] == OWNER


# --- sessions ------------------------------------------------------------------------------


def test_issue_13_item_1_sessions_are_listed_without_tokens_and_end_one_or_all(
    client: TestClient,
) -> None:
    _, this = owner(client, OWNER)
    other = token_for(client, OWNER)
    _, stranger = owner(client, "stranger@example.com")
    listed = client.get("/v1/me/sessions", headers=this)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 2
    assert set(items[0]) == {"id", "created_at", "expires_at", "current"}
    assert sorted(item["current"] for item in items) == [False, True]
    assert this["Authorization"].split()[1] not in listed.text
    other_id = next(item["id"] for item in items if not item["current"])

    assert client.delete(f"/v1/me/sessions/{other_id}", headers=stranger).status_code == 404
    assert client.delete(f"/v1/me/sessions/{other_id}", headers=this).status_code == 204
    assert client.get("/v1/me", headers=other).status_code == 401
    assert client.get("/v1/me", headers=this).status_code == 200

    token_for(client, OWNER)
    assert client.delete("/v1/me/sessions", headers=this).status_code == 204
    assert client.get("/v1/me", headers=this).status_code == 401  # this one too
    assert client.get("/v1/me", headers=stranger).status_code == 200


# --- camera name, language -----------------------------------------------------------------


def test_issue_13_item_1_an_owner_renames_a_camera_and_no_one_else_can(
    client: TestClient,
) -> None:
    _, headers = owner(client, OWNER)
    camera = register_camera(client, headers)
    renamed = client.patch(
        f"/v1/cameras/{camera['id']}", json={"name": "  Back   garden "}, headers=headers
    )
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Back garden")
    assert client.get(f"/v1/cameras/{camera['id']}", headers=headers).json()["name"] == (
        "Back garden"
    )
    for name in ("", "   ", "x" * 101, "nul\x00here", "bell\x07"):
        bad = client.patch(f"/v1/cameras/{camera['id']}", json={"name": name}, headers=headers)
        assert bad.status_code == 422, name
    _, stranger = owner(client, "stranger@example.com")
    theirs = client.patch(f"/v1/cameras/{camera['id']}", json={"name": "Mine"}, headers=stranger)
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")


def test_issue_13_item_1_the_language_is_a_validated_stored_preference(
    client: TestClient,
) -> None:
    _, headers = owner(client, OWNER)
    assert _me(client, headers)["language"] == "en"
    changed = client.patch("/v1/me", json={"language": "en-GB"}, headers=headers)
    assert (changed.status_code, changed.json()["language"]) == (200, "en-GB")
    refused = client.patch("/v1/me", json={"language": "xx"}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_language")
    # A time zone change leaves the language as it is.
    client.patch("/v1/me", json={"time_zone": "Europe/Berlin"}, headers=headers)
    assert (_me(client, headers)["language"], _me(client, headers)["time_zone"]) == (
        "en-GB",
        "Europe/Berlin",
    )


# --- email validation everywhere ------------------------------------------------------------

NOT_ONE_ADDRESS = ["not-an-email", "a@x.com, b@y.org", "Bob <b@y.org>", "a@x.com\nBcc: c@z.org"]


@pytest.mark.parametrize("bad", NOT_ONE_ADDRESS)
def test_issue_13_item_1_an_email_that_is_not_one_address_is_422_everywhere(
    client: TestClient, admin_headers: dict[str, str], bad: str
) -> None:
    _, headers = owner(client, OWNER)
    calls = [
        ("/v1/accounts", {"email": bad, "password": PASSWORD, "country": "US"}, {}),
        ("/v1/auth/password-reset", {"email": bad}, {}),
        ("/v1/me/email", {"new_email": bad, "password": PASSWORD}, headers),
        ("/v1/admin/support-agents", {"email": bad, "password": PASSWORD}, admin_headers),
    ]
    for path, body, auth in calls:
        response = client.post(path, json=body, headers=auth)
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), path
        assert "email address" in response.json()["detail"]
