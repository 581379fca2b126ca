"""Bodies of the account deletion routes (`accounts.deletion`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kasacare.accounts.deletion import DeletionQuote
from kasacare.subscriptions.schemas import QuoteRead


class DeletionRead(BaseModel):
    """What deleting the account does (the quote) or did (the answer of the deletion)."""

    subscription_cancel: QuoteRead | None = Field(
        description="The cancel of the live subscription (C1): its prorated refund"
    )
    legacy_termination: QuoteRead | None = Field(
        description="The termination of legacy subscriptions (L4): their refund"
    )
    cameras_unbound: int
    clips_erased: int = Field(description="Erased at once, with their thumbnails")

    @classmethod
    def of(cls, quote: DeletionQuote) -> DeletionRead:
        return cls(
            subscription_cancel=QuoteRead.of(quote.subscription) if quote.subscription else None,
            legacy_termination=QuoteRead.of(quote.legacy) if quote.legacy else None,
            cameras_unbound=quote.cameras,
            clips_erased=quote.clips,
        )


class DeletionConfirm(BaseModel):
    password: str = Field(min_length=1, max_length=256)
