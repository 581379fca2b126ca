"""Payment tables.

`sandbox_*` belong to the embedded sandbox gateway, an outside system that happens to live
in a database we run: only `SandboxGateway` reads or writes them, on its own connections.
`payment_methods` is the service's card on file, one per account (M2).

None of them holds a card number or a CVC (M3): a card is its token, brand, funding,
last 4 digits and expiry.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.catalog.schemas import CardBrand
from kasacare.kit.db import Base, new_id, str_enum
from kasacare.payments.cards import ChargeBehaviour, Funding

TOKEN_LENGTH = 64
GATEWAY_ID_LENGTH = 40
IDEMPOTENCY_KEY_LENGTH = 255


class SandboxToken(Base):
    """A tokenized card in the sandbox gateway."""

    __tablename__ = "sandbox_tokens"

    id: Mapped[str] = mapped_column(String(TOKEN_LENGTH), primary_key=True)
    brand: Mapped[CardBrand] = mapped_column(str_enum(CardBrand))
    funding: Mapped[Funding] = mapped_column(str_enum(Funding))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    behaviour: Mapped[ChargeBehaviour] = mapped_column(str_enum(ChargeBehaviour, 32))
    created_at: Mapped[datetime]


class SandboxCharge(Base):
    """A successful charge; declined attempts leave no row."""

    __tablename__ = "sandbox_charges"

    id: Mapped[str] = mapped_column(String(GATEWAY_ID_LENGTH), primary_key=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("sandbox_tokens.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), unique=True)
    created_at: Mapped[datetime]


class SandboxRefund(Base):
    __tablename__ = "sandbox_refunds"

    id: Mapped[str] = mapped_column(String(GATEWAY_ID_LENGTH), primary_key=True)
    charge_id: Mapped[str] = mapped_column(ForeignKey("sandbox_charges.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), unique=True)
    created_at: Mapped[datetime]


class SandboxCardCredit(Base):
    """Money paid back to a card without a charge of ours to refund (legacy payments)."""

    __tablename__ = "sandbox_card_credits"

    id: Mapped[str] = mapped_column(String(GATEWAY_ID_LENGTH), primary_key=True)
    token: Mapped[str] = mapped_column(ForeignKey("sandbox_tokens.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), unique=True)
    created_at: Mapped[datetime]


SANDBOX_TABLES = (
    SandboxToken.__table__,
    SandboxCharge.__table__,
    SandboxRefund.__table__,
    SandboxCardCredit.__table__,
)


class PaymentMethod(Base):
    """The account's card on file: the gateway's token and what may be shown of the card."""

    __tablename__ = "payment_methods"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    gateway_token: Mapped[str] = mapped_column(String(TOKEN_LENGTH))
    brand: Mapped[CardBrand] = mapped_column(str_enum(CardBrand))
    funding: Mapped[Funding] = mapped_column(str_enum(Funding))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: When the `card_expiring` reminder falls due (None: sent; `notifications.reminders`).
    expiry_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
