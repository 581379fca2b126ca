"""Account tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id, str_enum
from kasacare.kit.throttle_rows import ThrottleRow


class Role(StrEnum):
    OWNER = "owner"
    SUPPORT = "support"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    # Owners only: support agents have neither.
    country: Mapped[str | None] = mapped_column(String(2))
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime]
    # T1: set when the account's one free trial starts; it never clears.
    trial_started_at: Mapped[datetime | None]
    # L5: set when legacy is cancelled or migrated; no legacy subscription after it.
    legacy_locked_at: Mapped[datetime | None]
    # IANA zone for the owner's dates (activity center, mail); defaults from the browser.
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC", default="UTC")
    #: When the owner followed the link mailed to `email`; notification mail waits for it.
    email_verified_at: Mapped[datetime | None]
    #: The language of pages and mail (`accounts.preferences.LANGUAGES`).
    language: Mapped[str] = mapped_column(String(16), server_default="en", default="en")

    @property
    def trial_eligible(self) -> bool:
        return self.role is Role.OWNER and self.trial_started_at is None

    @property
    def legacy_locked(self) -> bool:
        return self.legacy_locked_at is not None


class AccessToken(Base):
    """A signed-in session: the bearer token's SHA-256, never the token itself."""

    __tablename__ = "access_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: What the owner's session list names it by (the digest is never shown).
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SignInThrottle(ThrottleRow, Base):
    """Failed sign-ins of one email or one client (`accounts.throttle`), one row per key,
    locked while a sign-in is checked so parallel guesses are counted one after another."""

    __tablename__ = "sign_in_throttles"


class Purpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a kind, not a secret)
    CHANGE_EMAIL = "change_email"


class AccountToken(Base):
    """A single-use token mailed in a link (`accounts.tokens`): only its SHA-256 is kept.
    `email` is the address it proves: the account's (verify, reset) or the new one
    (change)."""

    __tablename__ = "account_tokens"
    # Links mailed to one address lately (`accounts.tokens.LINKS_PER_HOUR`).
    __table_args__ = (Index("ix_account_tokens_email_created_at", "email", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, length=16))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a kind, not a secret)
    CONFIRM_NEW_EMAIL = "confirm_new_email"
    EMAIL_CHANGED = "email_changed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a kind, not a secret)
    EXPORT_READY = "export_ready"  # the data export's link (`accounts.export`)
    #: The last mail of a deleted account (`accounts.deletion`); the address is forgotten
    #: once it is sent.
    ACCOUNT_DELETED = "account_deleted"


class AccountMail(Base):
    """The outbox of the account's own mail (`accounts.mails`): links and security notices,
    written in the use case's transaction, sent by the mail job, never listed in the app.
    `link_token` is the one secret: kept only until the mail is sent or withdrawn."""

    __tablename__ = "account_mails"
    __table_args__ = (Index("ix_account_mails_pending", "delivered_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[MailKind] = mapped_column(str_enum(MailKind, length=24))
    to_address: Mapped[str] = mapped_column(String(320))
    token_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("account_tokens.id", ondelete="SET NULL"), index=True
    )
    link_token: Mapped[str | None] = mapped_column(String(128))
    #: Data for the wording (the new address of an email change, ...).
    detail: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    #: A link mail is not sent after its token expired or was used (withdrawn).
    send_before: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
