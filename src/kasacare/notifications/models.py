"""The notification outbox. Mail delivery (`mail.py`) marks rows delivered; the app lists them
and marks them read."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id, str_enum


class Kind(StrEnum):
    TRIAL_ENDING = "trial_ending"
    ANNUAL_RENEWAL = "annual_renewal"
    CARD_EXPIRING = "card_expiring"
    PAYMENT_FAILED = "payment_failed"
    REFUND_ISSUED = "refund_issued"
    CREDIT_ADDED = "credit_added"
    SUBSCRIPTION_ENDED = "subscription_ended"
    SUBSCRIPTION_ENDING = "subscription_ending"
    HISTORY_ERASED = "history_erased"
    #: A receipt: an invoice was paid (issue 14 item 3); the mail carries its PDF.
    PAYMENT_RECEIVED = "payment_received"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_account_created", "account_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, length=32))
    #: Reminders are sent once: `trial_ending:<subscription>` and the like.
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    #: Mail delivery: failed sends so far, and the earliest instant of the next try.
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    #: When the owner saw it in the app (issue 14 item 3); None while unread.
    read_at: Mapped[datetime | None]
