"""At most five links of one purpose are mailed to one address in any hour (issue 13 item 4,
`accounts.tokens.LINKS_PER_HOUR`), from one account or many: a person who lost a mail asks
again, nobody floods a mailbox through the reset, resend or change-of-email forms."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from kasacare.accounts.models import MailKind
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.factories import PASSWORD, owner
from tests.mailbox import outbox

OWNER = "owner@example.com"
VICTIM = "victim@example.com"


def _mails(context: AppContext, to: str, kind: MailKind) -> int:
    return sum(1 for mail in outbox(context, to) if mail.kind is kind)


def test_issue_13_item_4_the_sixth_reset_in_an_hour_is_answered_alike_and_not_mailed(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    owner(client, OWNER)
    for minute in range(6):
        response = client.post("/v1/auth/password-reset", json={"email": OWNER})
        assert (response.status_code, response.content) == (202, b"")  # no probing
        if minute < 5:
            clock.advance(timedelta(minutes=10))
    # Links at 0, 10, 20, 30 and 40 minutes; the sixth, at 50, was not mailed.
    assert _mails(context, OWNER, MailKind.RESET_PASSWORD) == 5
    clock.advance(timedelta(minutes=10))  # 60: the first link has left the hour
    client.post("/v1/auth/password-reset", json={"email": OWNER})
    assert _mails(context, OWNER, MailKind.RESET_PASSWORD) == 6


def test_issue_13_item_4_resending_the_verification_link_says_when_to_try_again(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    _, headers = owner(client, OWNER)  # sign-up mailed the first link
    for _ in range(4):
        clock.advance(timedelta(minutes=1))
        assert client.post("/v1/me/verify-email", headers=headers).status_code == 202
    refused = client.post("/v1/me/verify-email", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_links")
    # The first link (at 0) leaves the hour at 60 min; it is now 4 min.
    assert refused.headers["Retry-After"] == str(56 * 60)
    assert _mails(context, OWNER, MailKind.VERIFY_EMAIL) == 5


def test_issue_13_item_4_many_accounts_cannot_flood_one_address_by_changing_email(
    client: TestClient, context: AppContext
) -> None:
    _, first = owner(client, "first@example.com")
    _, second = owner(client, "second@example.com")
    change = {"new_email": VICTIM, "password": PASSWORD}
    for headers in (first, first, first, second, second):
        assert client.post("/v1/me/email", json=change, headers=headers).status_code == 202
    refused = client.post("/v1/me/email", json=change, headers=second)
    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_links")
    assert _mails(context, VICTIM, MailKind.CONFIRM_NEW_EMAIL) == 5
