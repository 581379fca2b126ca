"""Legacy subscription tables (SPEC L1-L7). Closed for sale: the operator imports them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kasacare.kit.calendar import Cycle
from kasacare.kit.db import Base, new_id, str_enum


class Channel(StrEnum):
    DIRECT = "direct"
    APP_STORE = "app_store"


class LegacyStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    ENDED = "ended"


class LegacyEndReason(StrEnum):
    CANCELLED = "cancelled"
    MIGRATED = "migrated"
    DUNNING = "dunning"
    SUPPORT = "support"
    #: An app-store subscription whose imported period ended without an operator's
    #: extension (L6: the store bills it; we only learn of renewals through the operator).
    EXPIRED = "expired"


class LegacySubscription(Base):
    __tablename__ = "legacy_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan: Mapped[str] = mapped_column(String(32))
    cycle: Mapped[Cycle] = mapped_column(str_enum(Cycle))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    status: Mapped[LegacyStatus] = mapped_column(str_enum(LegacyStatus))
    currency: Mapped[str] = mapped_column(String(3))
    #: The grandfathered total per period, and what was paid for the current one (L1, M2).
    price: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    anchor: Mapped[datetime]
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[LegacyEndReason | None] = mapped_column(str_enum(LegacyEndReason))
    dunning_since: Mapped[datetime | None]
    retries_done: Mapped[int] = mapped_column(default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(index=True)
    #: Isolated jobs, as on `Subscription`.
    job_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    job_retry_at: Mapped[datetime | None]

    cameras: Mapped[list[LegacyCamera]] = relationship(
        lazy="raise", order_by="LegacyCamera.camera_id"
    )

    @property
    def camera_ids(self) -> list[uuid.UUID]:
        return [camera.camera_id for camera in self.cameras]

    @property
    def live(self) -> bool:
        return self.status is not LegacyStatus.ENDED


class LegacyCamera(Base):
    __tablename__ = "legacy_subscription_cameras"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    legacy_subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("legacy_subscriptions.id"), index=True
    )
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id"), index=True)
