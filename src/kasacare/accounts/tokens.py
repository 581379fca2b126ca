"""Single-use tokens mailed in links: email verification (24 h), password reset (30 min),
a new email address (24 h). Only the token's SHA-256 is stored; the token itself travels in
the mail (the outbox keeps it until the mail is sent, `accounts.mails`). A newer link of the
same purpose replaces the older ones, and a redeemed or replaced link's unsent mail is
withdrawn. At most `LINKS_PER_HOUR` links of one purpose go to one address in any hour, from
one account or many: enough for a person who lost a mail, too few to flood a mailbox."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from kasacare.accounts import mails
from kasacare.accounts.models import Account, AccountToken, MailKind, Purpose
from kasacare.accounts.repository import AccountRepository
from kasacare.kit.errors import KasaCareError, TooManyAttempts
from kasacare.kit.security import new_token, token_digest

LIFETIME = {
    Purpose.VERIFY_EMAIL: timedelta(hours=24),
    Purpose.RESET_PASSWORD: timedelta(minutes=30),
    Purpose.CHANGE_EMAIL: timedelta(hours=24),
}
MAIL_KIND = {
    Purpose.VERIFY_EMAIL: MailKind.VERIFY_EMAIL,
    Purpose.RESET_PASSWORD: MailKind.RESET_PASSWORD,
    Purpose.CHANGE_EMAIL: MailKind.CONFIRM_NEW_EMAIL,
}


LINKS_PER_HOUR = 5
LINK_WINDOW = timedelta(hours=1)


class TooManyLinks(TooManyAttempts):
    code = "too_many_links"
    title = "Too many links mailed to this address"


class InvalidLink(KasaCareError):
    code = "invalid_link"
    status = 400
    title = "This link is invalid or has expired"


def mail_link(session: Session, account: Account, purpose: Purpose, to: str, now: datetime) -> None:
    """Issue a token for `purpose` proving `to`, and queue the mail that carries its link."""
    accounts = AccountRepository(session)
    mailed = accounts.links_mailed(to, purpose, now - LINK_WINDOW)
    if len(mailed) >= LINKS_PER_HOUR:  # the next slot opens when the oldest counted leaves
        seconds = math.ceil((mailed[-LINKS_PER_HOUR] + LINK_WINDOW - now).total_seconds())
        raise TooManyLinks(
            f"{len(mailed)} links were mailed to this address in the last hour; try again"
            f" in {math.ceil(seconds / 60)} minutes",
            retry_after_seconds=seconds,
        )
    older = accounts.live_account_tokens(account.id, purpose, now)
    for token in older:
        token.expires_at = now
    accounts.withdraw_mails([token.id for token in older], now)
    secret = new_token("kc_link")
    row = accounts.add_account_token(
        AccountToken(
            digest=token_digest(secret),
            account_id=account.id,
            purpose=purpose,
            email=to,
            created_at=now,
            expires_at=now + LIFETIME[purpose],
            used_at=None,
        )
    )
    mails.queue(session, account.id, MAIL_KIND[purpose], to, now, token=row, secret=secret)


def redeem(session: Session, purpose: Purpose, secret: str, now: datetime) -> AccountToken:
    """The token's row, marked used; InvalidLink if unknown, used, replaced or expired. The
    row stays locked until the commit, so a link is redeemed once."""
    accounts = AccountRepository(session)
    row = accounts.account_token(token_digest(secret.strip()), purpose)
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidLink(
            "This link is invalid, was already used or has expired. Ask for a new one."
        )
    row.used_at = now
    accounts.withdraw_mails([row.id], now)
    return row
