"""The account's own mail: verification and reset links, email-change confirmations and
security notices. Unlike notifications they are never listed in the app, and they go to the
address they name (a new address before it is the account's, the old one after a change),
verified or not.

A use case queues an `AccountMail` row in its own transaction (nothing is sent inside a
request); the mail job delivers the outbox like notifications (`notifications.mail`: one
`MailSender`, the same back-off and attempt limit, a stable `Message-ID`), and forgets the
link once the mail is sent. A link mail whose token expired, was used or was replaced is not
sent. Without SMTP (`KASACARE_SMTP_URL` unset) the rows wait, except with the test clock
(`KASACARE_TEST_CLOCK=1`, development and tests): then each mail, link included, is written
to the `kasacare.mail` log at INFO, so a developer can follow it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy.orm import Session, sessionmaker

from kasacare.accounts.models import AccountMail, AccountToken, MailKind
from kasacare.accounts.repository import AccountRepository
from kasacare.kit.calendar import require_utc
from kasacare.kit.db import session_scope
from kasacare.notifications.mail import (
    DEFAULT_MAIL_FROM,
    MAX_ATTEMPTS,
    SQLITE_BATCH,
    MailNotSent,
    MailSender,
    message_id,
    retry_delay,
)

log = logging.getLogger("kasacare.mail")

#: Where each link lands: a web page that asks for a click (or a new password), so a mail
#: scanner following links redeems nothing.
PATHS = {
    MailKind.VERIFY_EMAIL: "/verify-email",
    MailKind.RESET_PASSWORD: "/reset-password",
    MailKind.CONFIRM_NEW_EMAIL: "/confirm-email",
}
SIGNATURE = "The Kasa Care team"


def queue(
    session: Session,
    account_id: uuid.UUID,
    kind: MailKind,
    to: str,
    now: datetime,
    *,
    token: AccountToken | None = None,
    secret: str | None = None,
    detail: str | None = None,
) -> None:
    AccountRepository(session).add_mail(
        AccountMail(
            account_id=account_id,
            kind=kind,
            to_address=to,
            token_id=token.id if token else None,
            link_token=secret,
            detail=detail,
            created_at=now,
            send_before=token.expires_at if token else None,
            delivered_at=None,
        )
    )


def link(public_url: str, kind: MailKind, secret: str) -> str:
    if kind is MailKind.EXPORT_READY:  # the download, after signing in (`web.export_pages`)
        return f"{public_url.rstrip('/')}/app/account/export/{secret}"
    return f"{public_url.rstrip('/')}{PATHS[kind]}?token={secret}"


def compose(kind: MailKind, url: str | None, detail: str | None) -> tuple[str, str]:
    """Subject and body of one account mail, worded for a person."""
    if kind is MailKind.VERIFY_EMAIL:
        return (
            "Confirm your email address for Kasa Care",
            "Please confirm that this is your email address by opening this link within "
            f"24 hours:\n\n{url}\n\n"
            "Until you do, we send your account's notifications only to the app. If you did "
            "not create a Kasa Care account, ignore this message.",
        )
    if kind is MailKind.RESET_PASSWORD:
        return (
            "Reset your Kasa Care password",
            "Someone (we hope you) asked to reset the password of your Kasa Care account. "
            f"To choose a new one, open this link within 30 minutes:\n\n{url}\n\n"
            "The link works once. After the reset, every device signed in to your account "
            "is signed out. If you did not ask for this, ignore this message: your password "
            "stays as it is.",
        )
    if kind is MailKind.CONFIRM_NEW_EMAIL:
        return (
            "Confirm your new email address for Kasa Care",
            "To use this address for your Kasa Care account, open this link within 24 "
            f"hours:\n\n{url}\n\n"
            "Until you do, your account keeps its current address. If you did not ask for "
            "this, ignore this message.",
        )
    if kind is MailKind.EMAIL_CHANGED:
        return (
            "Your Kasa Care email address was changed",
            f"The email address of your Kasa Care account is now {detail}. We no longer "
            "send mail to this address.\n\n"
            "If you did not make this change, contact Kasa Care support at once.",
        )
    if kind is MailKind.PASSWORD_CHANGED:
        return (
            "Your Kasa Care password was changed",
            "The password of your Kasa Care account was changed, and other devices signed "
            "in to it were signed out.\n\n"
            "If you did not make this change, reset your password from the sign-in page and "
            "contact Kasa Care support.",
        )
    if kind is MailKind.ACCOUNT_DELETED:
        return (
            "Your Kasa Care account was deleted",
            "As you asked, your Kasa Care account was deleted: your subscription ended, "
            "your cameras were removed and every clip was erased. Invoices and credit notes "
            "are kept for the period the law requires, without your email address.\n\n"
            "This is the last message we send to this address.",
        )
    if kind is MailKind.EXPORT_READY:
        return (
            "Your Kasa Care data export is ready",
            "The copy of your Kasa Care data you asked for is ready. Download it, signed in "
            f"to your account, within 24 hours:\n\n{url}\n\n"
            "After that the file is deleted; you can ask for a new export at any time.",
        )
    raise ValueError(f"no account mail of kind {kind!r}")


def render(mail: AccountMail, public_url: str, mail_from: str) -> EmailMessage:
    url = link(public_url, mail.kind, mail.link_token) if mail.link_token else None
    if (mail.kind in PATHS or mail.kind is MailKind.EXPORT_READY) and url is None:
        raise ValueError(f"account mail {mail.id} has lost its link")
    subject, body = compose(mail.kind, url, mail.detail)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = mail.to_address
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = message_id(mail.id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(f"Hello,\n\n{body}\n\n{SIGNATURE}\n")
    return message


def deliver_account_mails(
    sessions: sessionmaker[Session],
    sender: MailSender,
    now: datetime,
    *,
    public_url: str,
    mail_from: str = DEFAULT_MAIL_FROM,
    batch: int = 50,
) -> int:
    """Send every account mail due at `now`, oldest first; return how many were sent. Stops
    early when the server is unavailable. Each row is marked right after its send."""
    require_utc(now)
    delivered = 0
    while True:
        with session_scope(sessions) as session:
            size = batch if session.get_bind().dialect.name != "sqlite" else SQLITE_BATCH
            size = min(batch, size)
            picked = AccountRepository(session).pending_mails(now, size, MAX_ATTEMPTS)
            stop = False
            for mail in picked:
                try:
                    sender.send(render(mail, public_url, mail_from))
                except MailNotSent as error:
                    _failed(mail, now, str(error))
                    stop = error.server_unavailable
                except Exception as error:
                    log.exception("account mail %s (%s) failed", mail.id, mail.kind.value)
                    _failed(mail, now, f"{type(error).__name__}: {error}")
                    stop = True
                else:
                    _sent(mail, now)
                    delivered += 1
                session.flush()
                if stop:
                    break
        if stop or len(picked) < size:
            return delivered


def log_account_mails(sessions: sessionmaker[Session], now: datetime, *, public_url: str) -> int:
    """Development and tests without SMTP: write each due mail to the log instead."""
    logged = 0
    with session_scope(sessions) as session:
        for mail in AccountRepository(session).pending_mails(now, 500, MAX_ATTEMPTS):
            message = render(mail, public_url, DEFAULT_MAIL_FROM)
            log.info(
                "mail not sent (no KASACARE_SMTP_URL), to %s: %s\n%s",
                mail.to_address,
                message["Subject"],
                message.get_content(),
            )
            _sent(mail, now)
            logged += 1
    return logged


def _sent(mail: AccountMail, now: datetime) -> None:
    mail.delivered_at = now
    mail.next_attempt_at = None
    mail.link_token = None  # the link lives on in the mailbox only
    _forget_deleted(mail)


def _forget_deleted(mail: AccountMail) -> None:
    """A deleted account's last mail was the one reason to keep its address (Art. 17)."""
    if mail.kind is MailKind.ACCOUNT_DELETED:
        mail.to_address = ""


def _failed(mail: AccountMail, now: datetime, reason: str) -> None:
    mail.delivery_attempts += 1
    if mail.delivery_attempts >= MAX_ATTEMPTS:
        mail.next_attempt_at = None
        mail.link_token = None
        _forget_deleted(mail)
        log.error("account mail %s (%s) given up: %s", mail.id, mail.kind.value, reason)
        return
    mail.next_attempt_at = now + retry_delay(mail.delivery_attempts)
    log.warning("account mail %s (%s) not sent: %s", mail.id, mail.kind.value, reason)
