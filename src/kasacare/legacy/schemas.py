"""Legacy request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from kasacare.kit.calendar import Cycle
from kasacare.kit.money import Money
from kasacare.kit.schemas import Instant, MoneyRead
from kasacare.legacy.models import Channel, LegacyStatus, LegacySubscription


class MoneyIn(BaseModel):
    amount: Annotated[int, Field(ge=0, le=10**9)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

    def money(self) -> Money:
        return Money(self.amount, self.currency)


class LegacyImportBody(BaseModel):
    account_id: uuid.UUID
    plan: Annotated[str, Field(min_length=1, max_length=32, examples=["legacy-plus"])]
    cycle: Cycle
    camera_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=100)]
    price: MoneyIn
    paid: MoneyIn
    current_period_start: Instant
    current_period_end: Instant
    channel: Channel = Channel.DIRECT


class LegacyExtendBody(BaseModel):
    """The store renewed it: the new period's end (one cycle after the current end)."""

    current_period_end: Instant


class LegacyRead(BaseModel):
    id: uuid.UUID
    plan: str
    cycle: Cycle
    camera_ids: list[uuid.UUID]
    status: LegacyStatus
    channel: Channel
    price: MoneyRead
    paid: MoneyRead
    current_period_start: datetime
    current_period_end: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, legacy: LegacySubscription) -> LegacyRead:
        return cls(
            id=legacy.id,
            plan=legacy.plan,
            cycle=legacy.cycle,
            camera_ids=legacy.camera_ids,
            status=legacy.status,
            channel=legacy.channel,
            price=MoneyRead.of(Money(legacy.price, legacy.currency)),
            paid=MoneyRead.of(Money(legacy.paid, legacy.currency)),
            current_period_start=legacy.current_period_start,
            current_period_end=legacy.current_period_end,
            ended_at=legacy.ended_at,
        )


class LegacyList(BaseModel):
    items: list[LegacyRead]
