"""Shared API shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from kasacare.kit.money import Money


class MoneyRead(BaseModel):
    amount: int
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

    @classmethod
    def of(cls, money: Money) -> MoneyRead:
        return cls(amount=money.amount, currency=money.currency)
