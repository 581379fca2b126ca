"""Subscription tables.

The billing anchor never moves (M7). Camera coverage is a ledger: a row per camera per stay
in a subscription, closed by `removed_at`, so history stays readable.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kasacare.kit.calendar import Cycle
from kasacare.kit.db import Base, new_id, str_enum


class PlanId(StrEnum):
    PLUS = "plus"
    PREMIUM = "premium"


class Status(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    ENDED = "ended"


class EndReason(StrEnum):
    CANCELLED = "cancelled"
    CYCLE_CHANGE = "cycle_change"
    DUNNING = "dunning"
    #: Auto-renew was off: the plan ran to its period's end and stopped (issue 14 item 5).
    NOT_RENEWED = "not_renewed"


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        # P1: at most one live new-plan subscription per account.
        Index(
            "uq_subscriptions_live_account",
            "account_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan: Mapped[PlanId] = mapped_column(str_enum(PlanId))
    cycle: Mapped[Cycle] = mapped_column(str_enum(Cycle))
    status: Mapped[Status] = mapped_column(str_enum(Status))
    currency: Mapped[str] = mapped_column(String(3))
    #: Full-period price as invoiced for the current period: per seat (Plus) or flat (Premium).
    unit_price: Mapped[int] = mapped_column(BigInteger)
    #: The tax treatment the current period was invoiced at (`billing.tax.TaxTreatment`):
    #: changes and refunds within the period split their lines at it. None: none recorded
    #: (rows from before tax): the account's treatment now.
    tax: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    anchor: Mapped[datetime]
    trial_end: Mapped[datetime | None]
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[EndReason | None] = mapped_column(str_enum(EndReason))
    #: False: the plan runs to `current_period_end` and then ends without a charge or a
    #: refund (issue 14 item 5); the owner may turn it on again before then.
    auto_renew: Mapped[bool] = mapped_column(default=True, server_default=true())
    #: Dunning (M5): when the first charge of the open invoice failed, retries made so far,
    #: and when the next one is due.
    dunning_since: Mapped[datetime | None]
    retries_done: Mapped[int] = mapped_column(default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(index=True)
    #: Isolated jobs: a renewal step that failed unexpectedly waits until `job_retry_at`
    #: (back-off by `job_failures`) so it never blocks the others.
    job_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    job_retry_at: Mapped[datetime | None]
    #: When the `trial_ending` and `annual_renewal` reminders fall due (None: none pending;
    #: `notifications.reminders`).
    trial_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
    renewal_reminder_at: Mapped[datetime | None] = mapped_column(index=True)

    seats: Mapped[list[SubscriptionCamera]] = relationship(
        lazy="raise",
        primaryjoin="and_(Subscription.id == SubscriptionCamera.subscription_id, "
        "SubscriptionCamera.removed_at.is_(None))",
        viewonly=True,
        order_by="SubscriptionCamera.added_at, SubscriptionCamera.camera_id",
    )

    @property
    def camera_ids(self) -> list[uuid.UUID]:
        return [seat.camera_id for seat in self.seats]


class SubscriptionCamera(Base):
    __tablename__ = "subscription_cameras"
    __table_args__ = (
        # P4: a camera is covered by at most one subscription at a time.
        Index(
            "uq_subscription_cameras_live_camera",
            "camera_id",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id"))
    added_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
