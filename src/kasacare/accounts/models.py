"""Account tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id, str_enum


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
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SignInThrottle(Base):
    """Failed sign-ins of one email or one client (`accounts.throttle`), one row per key,
    locked while a sign-in is checked so parallel guesses are counted one after another."""

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[datetime | None]
