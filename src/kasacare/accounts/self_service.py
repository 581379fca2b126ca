"""What an owner does to their own account (issue 13 item 1): verify the email, reset or
change the password, change the email, see and end sessions, choose a language. Each use
case runs in the caller's transaction and never commits; mail goes through the account
outbox (`accounts.mails`), sent after the commit by the mail job.

Sessions are access tokens: the API's bearer tokens and the web's session cookies alike, so
revoking them signs out the app and the browser.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kasacare.accounts import mails, throttle, tokens
from kasacare.accounts.emails import checked_email
from kasacare.accounts.models import AccessToken, Account, MailKind, Purpose
from kasacare.accounts.preferences import checked_language
from kasacare.accounts.repository import AccountRepository
from kasacare.accounts.service import EmailTaken
from kasacare.kit.errors import KasaCareError, NotFound, ValidationFailed
from kasacare.kit.security import hash_password, token_digest, verify_password
from kasacare.kit.throttle_rows import wait_until


class WrongPassword(KasaCareError):
    code = "wrong_password"
    status = 403
    title = "The current password is wrong"


def send_verification(session: Session, account: Account, now: datetime) -> None:
    """A (new) verification link to the account's address; nothing once it is verified."""
    if account.email_verified_at is None:
        tokens.mail_link(session, account, Purpose.VERIFY_EMAIL, account.email, now)


def verify_email(session: Session, now: datetime, secret: str) -> Account:
    token = tokens.redeem(session, Purpose.VERIFY_EMAIL, secret, now)
    account = _account(session, token.account_id)
    if account.email != token.email:  # the address changed since the link was sent
        raise tokens.InvalidLink("This link was for an address the account no longer uses.")
    if account.email_verified_at is None:
        account.email_verified_at = now
    return account


def request_password_reset(session: Session, now: datetime, email: str) -> None:
    """Mail a reset link if an account uses `email`; the caller answers the same either way
    (no probing for accounts)."""
    account = AccountRepository(session).by_email(checked_email(email))
    if account is None:
        return
    with contextlib.suppress(tokens.TooManyLinks):  # the same answer: nothing to probe
        tokens.mail_link(session, account, Purpose.RESET_PASSWORD, account.email, now)


def reset_password(session: Session, now: datetime, secret: str, new_password: str) -> Account:
    """Set the password from a reset link and sign out every session. Following the link
    proves the mailbox, so an unverified address becomes verified."""
    token = tokens.redeem(session, Purpose.RESET_PASSWORD, secret, now)
    account = _account(session, token.account_id)
    if account.email != token.email:
        raise tokens.InvalidLink("This link was for an address the account no longer uses.")
    account.password_hash = hash_password(checked_password(new_password))
    account.email_verified_at = account.email_verified_at or now
    AccountRepository(session).revoke_sessions(account.id)
    return account


def change_password(
    session: Session,
    now: datetime,
    account: Account,
    *,
    current_password: str,
    new_password: str,
    current_token: str | None,
) -> None:
    """New password; every other session is signed out, the one making the change kept."""
    confirm_password(session, now, account, current_password)
    account.password_hash = hash_password(checked_password(new_password))
    keep = token_digest(current_token) if current_token else None
    AccountRepository(session).revoke_sessions(account.id, keep_digest=keep)
    if account.email_verified_at is not None:  # notices go to proved addresses only
        mails.queue(session, account.id, MailKind.PASSWORD_CHANGED, account.email, now)


def request_email_change(
    session: Session, now: datetime, account: Account, *, new_email: str, password: str
) -> None:
    """Mail a confirmation link to `new_email`; the address changes only when it is
    followed. An address another account uses gets no mail, but the answer is the same (no
    probing); `confirm_email_change` refuses it if it is still taken then."""
    confirm_password(session, now, account, password)
    new_email = checked_email(new_email)
    if new_email == account.email:
        return
    if AccountRepository(session).by_email(new_email) is None:
        tokens.mail_link(session, account, Purpose.CHANGE_EMAIL, new_email, now)


def confirm_email_change(session: Session, now: datetime, secret: str) -> Account:
    """The account's address becomes the link's (now verified); the old one is told (if it
    was verified)."""
    token = tokens.redeem(session, Purpose.CHANGE_EMAIL, secret, now)
    accounts = AccountRepository(session)
    account = _account(session, token.account_id)
    holder = accounts.by_email(token.email)
    if holder is not None and holder.id != account.id:
        raise EmailTaken(f"An account with the email {token.email} already exists")
    old, old_verified = account.email, account.email_verified_at is not None
    try:
        with session.begin_nested():  # the unique index decides a race with a sign-up
            account.email = token.email
            account.email_verified_at = now
            session.flush()
    except IntegrityError:
        raise EmailTaken(f"An account with the email {token.email} already exists") from None
    if old_verified:  # an address never proved may be a stranger's: it learns nothing
        mails.queue(session, account.id, MailKind.EMAIL_CHANGED, old, now, detail=account.email)
    return account


def sessions(session: Session, account: Account, now: datetime) -> list[AccessToken]:
    return AccountRepository(session).sessions(account.id, now)


def sign_out_everywhere(session: Session, account: Account) -> None:
    """Every session of the account ends, the caller's included."""
    AccountRepository(session).revoke_sessions(account.id)


def sign_out_session(session: Session, account: Account, session_id: uuid.UUID) -> None:
    if not AccountRepository(session).revoke_session(account.id, session_id):
        raise NotFound("No such session")


def set_language(account: Account, language: str) -> None:
    account.language = checked_language(language)


def checked_password(password: str) -> str:
    """The rule of the API's `Password` shape, for the web forms too."""
    if not 8 <= len(password) <= 256:
        raise ValidationFailed("Choose a password of 8 to 256 characters.", field="password")
    return password


def confirm_password(
    session: Session,
    now: datetime,
    account: Account,
    password: str,
    wrong: str = "The current password is wrong",
) -> None:
    """The account's password, re-entered to confirm a sensitive change. Wrong ones are
    counted per account like sign-ins (`accounts.throttle`): past the free ones a try before
    the growing delay is over is 429 without checking. The failure is flushed before 403
    `wrong_password` is raised, and the caller commits it (`kit.db.committed_on`), so it
    counts; the row stays locked until then, so parallel guesses are counted one by one."""
    accounts = AccountRepository(session)
    key = throttle.reauth_key(account.id)
    rows = accounts.lock_throttles([key])
    if (allowed_at := wait_until(rows, {key: throttle.FREE_REAUTH}, now)) is not None:
        raise throttle.wait_error(allowed_at, now, "wrong passwords")
    if not verify_password(account.password_hash, password):
        rows[key].fail(now)
        session.flush()
        raise WrongPassword(wrong)
    accounts.forget_throttles(now - throttle.FORGET_AFTER, [key])


def _account(session: Session, account_id: uuid.UUID) -> Account:
    account = AccountRepository(session).get(account_id)
    if account is None:  # the token's row cascades with its account: unreachable
        raise tokens.InvalidLink()
    return account
