"""Subscription request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from kasacare.billing.schemas import TaxRead
from kasacare.kit.calendar import Cycle
from kasacare.kit.money import Money
from kasacare.kit.schemas import MoneyRead
from kasacare.subscriptions.models import Status, Subscription
from kasacare.subscriptions.quote import NextInvoice, Quote

PlanName = Annotated[str, Field(min_length=1, max_length=32, examples=["plus"])]
CameraIds = Annotated[list[uuid.UUID], Field(max_length=1000)]


class SubscriptionCreate(BaseModel):
    plan: PlanName
    cycle: Cycle
    camera_ids: CameraIds
    trial: bool = False
    confirm_legacy_termination: bool = False


class SubscriptionChange(BaseModel):
    plan: PlanName
    cycle: Cycle
    camera_ids: CameraIds


class CameraAdd(BaseModel):
    camera_id: uuid.UUID


class PreviewAction(StrEnum):
    CREATE = "create"
    CHANGE = "change"
    ADD_CAMERA = "add_camera"
    REMOVE_CAMERA = "remove_camera"
    CANCEL = "cancel"
    CANCEL_LEGACY = "cancel_legacy"


class PreviewRequest(BaseModel):
    action: PreviewAction
    plan: PlanName | None = None
    cycle: Cycle | None = None
    camera_ids: CameraIds | None = None
    camera_id: uuid.UUID | None = None
    trial: bool = False


class NextInvoiceRead(BaseModel):
    date: datetime
    amount: MoneyRead

    @classmethod
    def of(cls, next_invoice: NextInvoice | None) -> NextInvoiceRead | None:
        if next_invoice is None:
            return None
        return cls(date=next_invoice.date, amount=MoneyRead.of(next_invoice.amount))


class ErasureRead(BaseModel):
    camera_id: uuid.UUID
    before: datetime


class QuoteRead(BaseModel):
    charge_now: MoneyRead
    refund_now: MoneyRead
    credit_added: MoneyRead
    credit_used: MoneyRead
    balance_after: MoneyRead
    next_invoice: NextInvoiceRead | None
    erased: list[ErasureRead]
    tax_charged: MoneyRead = Field(
        description="The tax included in what is invoiced now (before credit is applied)"
    )
    tax_credited: MoneyRead = Field(
        description="The tax included in what is refunded or credited now"
    )
    tax: TaxRead | None = Field(description="The tax treatment of these documents")

    @classmethod
    def of(cls, quote: Quote) -> QuoteRead:
        zero = Money.zero(quote.charge_now.currency)
        return cls(
            tax_charged=MoneyRead.of(quote.tax_charged or zero),
            tax_credited=MoneyRead.of(quote.tax_credited or zero),
            tax=TaxRead.of(quote.tax),
            charge_now=MoneyRead.of(quote.charge_now),
            refund_now=MoneyRead.of(quote.refund_now),
            credit_added=MoneyRead.of(quote.credit_added),
            credit_used=MoneyRead.of(quote.credit_used),
            balance_after=MoneyRead.of(quote.balance_after),
            next_invoice=NextInvoiceRead.of(quote.next_invoice),
            erased=[ErasureRead(camera_id=e.camera_id, before=e.before) for e in quote.erased],
        )


class SubscriptionRead(BaseModel):
    id: uuid.UUID
    plan: str
    cycle: Cycle
    status: Status
    camera_ids: list[uuid.UUID]
    current_period_start: datetime
    current_period_end: datetime
    trial_end: datetime | None
    auto_renew: bool = Field(description="False: the plan ends at `ends_at` (issue 14 item 5)")
    ends_at: datetime | None = Field(
        description="When the plan stops because auto-renew is off; null while it renews"
    )
    next_invoice: NextInvoiceRead | None
    last_change: QuoteRead | None = Field(
        default=None, description="What the call that answered this moved (money, erasure)"
    )

    @classmethod
    def of(
        cls,
        subscription: Subscription,
        next_invoice: NextInvoice | None,
        quote: Quote | None = None,
    ) -> SubscriptionRead:
        return cls(
            id=subscription.id,
            plan=subscription.plan.value,
            cycle=subscription.cycle,
            status=subscription.status,
            camera_ids=subscription.camera_ids,
            current_period_start=subscription.current_period_start,
            current_period_end=subscription.current_period_end,
            trial_end=subscription.trial_end,
            auto_renew=subscription.auto_renew,
            ends_at=None if subscription.auto_renew else subscription.current_period_end,
            next_invoice=NextInvoiceRead.of(next_invoice),
            last_change=QuoteRead.of(quote) if quote else None,
        )


class AutoRenew(BaseModel):
    enabled: bool


class CancelRead(QuoteRead):
    cancelled: bool = True


class TrialRead(BaseModel):
    eligible: bool
    reason: str | None
