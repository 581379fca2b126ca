"""Payment request and response bodies.

The card number and CVC are `SecretStr`: they print as `**********` in any repr or log.
Their format is judged by the card rules (422 `card_invalid`), not by the schema.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, SecretStr

from kasacare.catalog.schemas import CardBrand
from kasacare.payments.cards import Funding
from kasacare.payments.models import TOKEN_LENGTH, PaymentMethod


class CardTokenCreate(BaseModel):
    number: Annotated[SecretStr, Field(max_length=64, examples=["4242424242424242"])]
    exp_month: Annotated[int, Field(examples=[12])]
    exp_year: Annotated[int, Field(examples=[2030])]
    cvc: Annotated[SecretStr, Field(max_length=8, examples=["123"])]


class CardTokenRead(BaseModel):
    token: str


class PaymentMethodUpdate(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=TOKEN_LENGTH, pattern=r"^[A-Za-z0-9_-]+$")]


class PaymentMethodRead(BaseModel):
    brand: CardBrand
    funding: Funding
    last4: str
    exp_month: int
    exp_year: int

    @classmethod
    def of(cls, method: PaymentMethod) -> PaymentMethodRead:
        return cls(
            brand=method.brand,
            funding=method.funding,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
        )
