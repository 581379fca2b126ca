"""The account mail a test reads: the link a use case mailed (from the outbox, before the
mail job), and verifying an owner's address through the API with it, as the owner would by
following the link."""

from __future__ import annotations

import re
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.accounts.models import AccountMail, MailKind
from kasacare.context import AppContext
from kasacare.kit.db import session_scope

LINK = re.compile(r"https?://\S+?\?token=(\S+)")


def outbox(context: AppContext, to: str | None = None) -> list[AccountMail]:
    with session_scope(context.sessions) as session:
        query = select(AccountMail).order_by(AccountMail.created_at, AccountMail.id)
        if to is not None:
            query = query.where(AccountMail.to_address == to)
        return list(session.scalars(query))


def pending_link(context: AppContext, to: str, kind: MailKind) -> str:
    """The token of the newest unsent link mail of `kind` to `to`."""
    mails = [m for m in outbox(context, to) if m.kind is kind and m.link_token]
    assert mails, f"no pending {kind.value} mail to {to}"
    token = mails[-1].link_token
    assert token is not None
    return token


def verify(client: TestClient, context: AppContext, email: str) -> None:
    token = pending_link(context, email, MailKind.VERIFY_EMAIL)
    response = client.post("/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 204, response.text


def token_in(message: EmailMessage) -> str:
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1)
