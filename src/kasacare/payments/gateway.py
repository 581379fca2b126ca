"""The payment gateway interface (SPEC M3, M4): a small Protocol and its value types.

The gateway is an outside system. Whatever it does, it has done once it answers: it commits
on its own, never inside the service's transaction, so a rollback on our side never hides a
charge. Money is integer minor units (`Money`). No card number or CVC ever leaves
`tokenize`; everything after it works with the opaque token.

Idempotency (M4): every charge and refund carries a key derived from what it pays for
(`renewal:<subscription>:<period_start>`, `refund:<credit_note>:<charge>`). Repeating a call
with the same key and the same request answers the first result and moves no money again.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from kasacare.catalog.schemas import CardBrand
from kasacare.kit.money import Money
from kasacare.payments.cards import Funding
from kasacare.payments.errors import CardDeclined

__all__ = [
    "BatchCharging",
    "CardBrand",
    "CardDetails",
    "Charge",
    "ChargeRequest",
    "Funding",
    "PaymentGateway",
    "Refund",
    "charge_all",
    "charge_or_decline",
]

#: Calls in flight at once when a gateway takes charges one at a time (`charge_all`).
CONCURRENT_CHARGES = 8


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What the service may keep about a tokenized card (M3)."""

    brand: CardBrand
    funding: Funding
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class Charge:
    id: str
    token: str
    amount: Money
    idempotency_key: str
    created_at: datetime
    #: Refunded so far, at the time this value was read.
    amount_refunded: Money

    @property
    def refundable(self) -> Money:
        return self.amount - self.amount_refunded


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    #: None for a card credit (money paid back without a charge of this gateway to refund).
    charge_id: str | None
    amount: Money
    idempotency_key: str
    created_at: datetime


class PaymentGateway(Protocol):
    def tokenize(
        self, *, number: str, exp_month: int, exp_year: int, cvc: str, now: datetime
    ) -> str:
        """Check a card as typed and answer an opaque token for it.

        The number and the CVC are checked, then forgotten: never stored, never logged.
        Raises CardInvalid (format, Luhn, expiry, CVC) or CardBrandNotSupported (a brand
        other than Visa, Mastercard, Maestro or American Express).
        """
        ...

    def attach(self, token: str, *, now: datetime) -> CardDetails:
        """Check that `token` can be charged and describe its card. Moves no money and may be
        repeated. Raises CardInvalid for an unknown token or a card expired at `now`.
        Every valid card attaches, even one whose charges will decline."""
        ...

    def describe(self, token: str) -> CardDetails:
        """The card behind a token, whatever its state. Raises CardInvalid if unknown."""
        ...

    def charge(self, *, token: str, amount: Money, idempotency_key: str, now: datetime) -> Charge:
        """Charge `amount` (> 0) to the card, committed before it returns.

        The same key with the same amount answers the first successful charge and charges
        nothing more (the key names what is paid for, so this holds even if the card has
        changed since); the same key with another amount raises IdempotencyKeyReused.
        A decline raises CardDeclined (with its `decline_code`) and stores nothing under the
        key, so a later call with the same key can succeed.
        """
        ...

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        """Refund `amount` (> 0) of a charge, committed before it returns.

        The same key for the same charge and amount answers the first refund; the same key
        for anything else raises IdempotencyKeyReused. The refunds of a charge never sum to
        more than the charge: RefundExceedsCharge. An unknown charge: ChargeNotFound.
        """
        ...

    def credit_card(
        self, *, token: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        """Pay `amount` (> 0) back to the card behind `token` without a charge to refund:
        for payments taken before this gateway (imported legacy subscriptions, M2). The
        caller caps it at what was paid. Idempotent by key like `refund`."""
        ...

    def get_charge(self, charge_id: str) -> Charge:
        """A charge as it stands now (with what was refunded). Raises ChargeNotFound."""
        ...

    def find_charge(self, idempotency_key: str) -> Charge | None:
        """The successful charge made under `idempotency_key`, if any; moves no money.
        The reconciler asks this for a payment attempt whose outcome we never recorded."""
        ...


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """One charge of a batch (`charge_all`): the arguments of `PaymentGateway.charge`."""

    token: str
    amount: Money
    idempotency_key: str


@runtime_checkable
class BatchCharging(Protocol):
    """A gateway that takes several charges in one call (the sandbox does)."""

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        """Each request charged exactly as `charge` would, answered in order: the charge,
        or the decline in its place. Any other error raises for the whole call and charges
        nothing of it."""
        ...


def charge_all(
    gateway: PaymentGateway, requests: Sequence[ChargeRequest], *, now: datetime
) -> list[Charge | CardDeclined]:
    """Charge a batch: in one call where the gateway takes batches (`BatchCharging`),
    otherwise `CONCURRENT_CHARGES` calls at a time (a charge waits on the network, not on
    our CPU). Answers in order, a decline in its place; any other error raises (a charge
    that went through is then known by its key: each request's key names what it pays)."""
    if isinstance(gateway, BatchCharging):
        return gateway.charge_many(requests, now=now)

    def one(request: ChargeRequest) -> Charge | CardDeclined:
        return charge_or_decline(gateway, request, now=now)

    with ThreadPoolExecutor(min(CONCURRENT_CHARGES, max(len(requests), 1))) as pool:
        return list(pool.map(one, requests))


def charge_or_decline(
    gateway: PaymentGateway, request: ChargeRequest, *, now: datetime
) -> Charge | CardDeclined:
    """One request of a batch through `charge`: the charge, or its decline as a value."""
    try:
        return gateway.charge(
            token=request.token,
            amount=request.amount,
            idempotency_key=request.idempotency_key,
            now=now,
        )
    except CardDeclined as declined:
        return declined
