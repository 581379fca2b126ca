"""Notification mail: the outbox delivered by SMTP, with retries and no duplicates.

`deliver_pending` takes undelivered notifications oldest first, a small batch per
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers never share a row; on SQLite
the transaction's write lock serializes them), renders one plain-text mail per notification,
hands it to the `MailSender` and marks the row delivered in the same transaction right after
the server accepted it. A refused or failed send leaves the row pending, counts an attempt
and sets the earliest next try (exponential backoff); after `MAX_ATTEMPTS` it gives up and
logs an error. Each mail carries a `Message-ID` derived from the notification id, so in the
one window left (the server accepted, then the commit failed) a resend is recognisable as
the same message.

Mail is off unless `KASACARE_SMTP_URL` is set: the notifications then stay in the app.
Mail goes only to a verified address: an account's notifications wait (held, no attempt
counted) until its owner follows the verification link, then go out oldest first.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from kasacare.accounts.models import Account
from kasacare.kit.calendar import require_utc
from kasacare.kit.db import session_scope
from kasacare.notifications.models import Kind, Notification
from kasacare.notifications.wording import Facts, describe

if TYPE_CHECKING:
    from kasacare.catalog.schemas import Catalog
    from kasacare.config import Settings
    from kasacare.notifications.attachments import Attachment

log = logging.getLogger("kasacare.mail")

DEFAULT_MAIL_FROM = "Kasa Care <no-reply@kasacare.local>"
#: Where links point when no settings are given (`Settings.public_url`'s default).
DEFAULT_PUBLIC_URL = "http://localhost:8000"
#: Failed sends before a notification is given up (it stays listed in the app).
MAX_ATTEMPTS = 8
#: Backoff after the n-th failure: FIRST_RETRY x 2^(n-1), at most LONGEST_RETRY
#: (5, 10, 20, 40, 80, 160, 320 minutes: the 8th and last try comes ~10.6 h after the first).
FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=6)
#: On SQLite a batch holds the database's one write lock while it sends: keep it short.
SQLITE_BATCH = 10
DEFAULT_TIMEOUT = 10.0
MESSAGE_ID_DOMAIN = "kasacare"


# --- sending -------------------------------------------------------------------------------


class MailNotSent(Exception):
    """The server did not accept the message. `server_unavailable`: no message can go now
    (connection, greeting or login failed), so the run stops; otherwise only this message
    was refused and the others are still tried."""

    def __init__(self, reason: str, *, server_unavailable: bool) -> None:
        super().__init__(reason)
        self.server_unavailable = server_unavailable


class MailSender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand one message to the mail server; raise `MailNotSent` unless it was accepted."""


class InvalidSmtpUrl(ValueError):
    """`KASACARE_SMTP_URL` cannot be used; the text says why (never the password)."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    #: `starttls`: upgrade a plain connection; `tls`: TLS from the start (smtps://).
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:  # never the password
        return (
            f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, timeout={self.timeout})"
        )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_QUERY = {"starttls", "timeout"}


def parse_smtp_url(url: str) -> SmtpConfig:
    """`smtp://[user:pass@]host[:port][?starttls=1&timeout=10]` or `smtps://...` (TLS from
    the start). Ports default to 25 and 465. No I/O: configuration checks it at start."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise InvalidSmtpUrl("expected smtp://user:pass@host:587?starttls=1 or smtps://host")
    try:
        port = parts.port
    except ValueError:
        raise InvalidSmtpUrl("the port is not a number from 1 to 65535") from None
    host = parts.hostname
    if not host:
        raise InvalidSmtpUrl("the URL names no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise InvalidSmtpUrl("an SMTP URL takes no path or fragment")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None):
        raise InvalidSmtpUrl("give both a user and a password (user:pass@host), or neither")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _QUERY)
    if unknown:
        raise InvalidSmtpUrl(
            f"unknown parameter(s) {', '.join(unknown)}; expected {', '.join(sorted(_QUERY))}"
        )
    security: Literal["none", "starttls", "tls"] = "tls" if parts.scheme == "smtps" else "none"
    if "starttls" in query:
        flag = query["starttls"][-1].lower()
        if flag not in _TRUE | _FALSE:
            raise InvalidSmtpUrl("starttls must be 1 or 0")
        if flag in _TRUE:
            if security == "tls":
                raise InvalidSmtpUrl("smtps:// is TLS already; starttls=1 is for smtp://")
            security = "starttls"
    timeout = DEFAULT_TIMEOUT
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            raise InvalidSmtpUrl("timeout must be a number of seconds") from None
        if not 0 < timeout <= 300:
            raise InvalidSmtpUrl("timeout must be more than 0 and at most 300 seconds")
    return SmtpConfig(
        host=host,
        port=port or (465 if security == "tls" else 25),
        security=security,
        username=username,
        password=password,
        timeout=timeout,
    )


# The server is up but refused this one message: the others may still go.
_MESSAGE_REFUSED = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)


class SmtpSender:
    """A `MailSender` on the standard library's `smtplib`: one connection per message."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        try:
            self._send(message)
        except _MESSAGE_REFUSED as error:
            raise MailNotSent(_describe(error), server_unavailable=False) from error
        except (smtplib.SMTPException, OSError) as error:
            raise MailNotSent(_describe(error), server_unavailable=True) from error

    def _send(self, message: EmailMessage) -> None:
        config = self.config
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        try:
            if config.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.username is not None and config.password is not None:
                smtp.login(config.username, config.password)
            refused = smtp.send_message(message)
            if refused:  # some recipients refused (we send to one: unreachable in practice)
                raise smtplib.SMTPRecipientsRefused(refused)
        finally:
            # The message is accepted at this point or not at all: a failed QUIT changes
            # nothing (raising here would resend an accepted message).
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply or "")
        return f"{error.smtp_code} {text}".strip()
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = {code for code, _ in error.recipients.values()}
        return f"recipient refused ({', '.join(map(str, sorted(codes)))})"
    return f"{type(error).__name__}: {error}"


def smtp_sender(settings: Settings) -> SmtpSender | None:
    """The sender `KASACARE_SMTP_URL` configures, or None: mail is off."""
    if settings.smtp_url is None:
        return None
    return SmtpSender(parse_smtp_url(settings.smtp_url.get_secret_value()))


# --- delivery ------------------------------------------------------------------------------


def message_id(notification_id: uuid.UUID) -> str:
    """Stable across retries: the same notification is always the same message."""
    return f"<{notification_id}@{MESSAGE_ID_DOMAIN}>"


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed send."""
    return min(FIRST_RETRY * (1 << max(attempts - 1, 0)), LONGEST_RETRY)


def deliver_pending(
    sessions: sessionmaker[Session],
    sender: MailSender,
    now: datetime,
    *,
    batch: int = 50,
    mail_from: str = DEFAULT_MAIL_FROM,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
) -> int:
    """Send every notification due for (another) try at `now`, oldest first; return how
    many were delivered. Stops early when the server is unavailable. `settings` gives the
    links' `KASACARE_PUBLIC_URL` and the seller of the attached PDFs (none without it)."""
    # Here, not at the top: configuration imports this module, and the documents import it.
    from kasacare.notifications.facts import facts_for

    require_utc(now)
    delivered = 0
    while True:
        with session_scope(sessions) as session:
            size = batch if session.get_bind().dialect.name != "sqlite" else SQLITE_BATCH
            size = min(batch, size)
            picked = _pick(session, now, size)
            facts = facts_for(session, catalog, [notification for notification, _ in picked])
            stop = False
            for notification, email in picked:
                try:
                    message = _message(session, settings, notification, email, mail_from, facts)
                except Exception:
                    log.exception(
                        "cannot render notification %s (%s)", notification.id, notification.kind
                    )
                    _failed(notification, now, "could not be rendered")
                    session.flush()
                    continue
                outcome = _deliver_one(notification, message, sender, now)
                if outcome == "sent":
                    delivered += 1
                session.flush()  # the mark lands right after the send, same transaction
                if outcome == "server_unavailable":
                    stop = True
                    break
        if stop or len(picked) < size:
            return delivered


def _pick(session: Session, now: datetime, limit: int) -> Sequence[Any]:
    return session.execute(
        select(Notification, Account.email)
        .join(Account, Account.id == Notification.account_id)
        .where(
            Notification.delivered_at.is_(None),
            # Issue 13: mail goes only to a verified address; the rest wait for it.
            Account.email_verified_at.is_not(None),
            Notification.delivery_attempts < MAX_ATTEMPTS,
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .order_by(Notification.created_at, Notification.id)
        .limit(limit)
        .with_for_update(of=Notification, skip_locked=True)
    ).all()


def _message(
    session: Session,
    settings: Settings | None,
    notification: Notification,
    email: str,
    mail_from: str,
    facts: Mapping[uuid.UUID, Facts],
) -> EmailMessage:
    from kasacare.notifications.attachments import document_pdf  # see `deliver_pending`

    attachment = document_pdf(session, settings, notification) if settings else None
    return render(
        notification,
        email,
        mail_from,
        facts.get(notification.id),
        public_url=settings.public_url if settings else DEFAULT_PUBLIC_URL,
        attachment=attachment,
    )


def _deliver_one(
    notification: Notification, message: EmailMessage, sender: MailSender, now: datetime
) -> Literal["sent", "refused", "server_unavailable"]:
    try:
        sender.send(message)
    except MailNotSent as error:
        _failed(notification, now, str(error))
        return "server_unavailable" if error.server_unavailable else "refused"
    except Exception as error:
        # Never let one send roll back the marks of the messages already sent in this batch.
        log.exception("mail sender failed on notification %s", notification.id)
        _failed(notification, now, f"{type(error).__name__}: {error}")
        return "server_unavailable"
    notification.delivered_at = now
    notification.next_attempt_at = None
    return "sent"


def _failed(notification: Notification, now: datetime, reason: str) -> None:
    notification.delivery_attempts += 1
    attempts = notification.delivery_attempts
    if attempts >= MAX_ATTEMPTS:
        notification.next_attempt_at = None
        log.error(
            "notification %s (%s) not delivered after %d attempts; giving up: %s",
            notification.id,
            notification.kind.value,
            attempts,
            reason,
        )
        return
    notification.next_attempt_at = now + retry_delay(attempts)
    log.warning(
        "notification %s (%s) not delivered (attempt %d of %d, next at %s): %s",
        notification.id,
        notification.kind.value,
        attempts,
        MAX_ATTEMPTS,
        notification.next_attempt_at.isoformat(),
        reason,
    )


# --- rendering -----------------------------------------------------------------------------

GREETING = "Hello,"
SIGNATURE = (
    "The Kasa Care team\n\n"
    "You get this message because you have a Kasa Care account. "
    "You can also find it under Notifications in the Kasa app."
)


def render(
    notification: Notification,
    to: str,
    mail_from: str = DEFAULT_MAIL_FROM,
    facts: Facts | None = None,
    *,
    public_url: str = DEFAULT_PUBLIC_URL,
    attachment: Attachment | None = None,
) -> EmailMessage:
    """The plain-text mail for one notification, its link made absolute, and the PDF of
    the document it tells of attached (a receipt, a refund, a credit)."""
    subject, body = compose(notification.kind, notification.data, notification.created_at, facts)
    notice = describe(
        notification.kind, notification.data, notification.created_at, facts or Facts()
    )
    link = f"{notice.link.label}: {public_url.rstrip('/')}{notice.link.path}"
    attached = f"\n\n{attachment.filename} is attached." if attachment is not None else ""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = to
    message["Date"] = format_datetime(notification.created_at)
    message["Message-ID"] = message_id(notification.id)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(f"{GREETING}\n\n{body}\n\n{link}{attached}\n\n{SIGNATURE}\n")
    if attachment is not None:
        message.add_attachment(
            attachment.content, maintype="application", subtype="pdf", filename=attachment.filename
        )
    return message


def compose(
    kind: Kind, data: Mapping[str, Any], created_at: datetime, facts: Facts | None = None
) -> tuple[str, str]:
    """Subject and body, worded for a person (`wording.describe`, the app's wording too)."""
    notice = describe(kind, data, created_at, facts or Facts())
    return notice.title, notice.body
