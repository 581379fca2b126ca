"""Card on file (SPEC M1-M3): tokenize a card, put it on file, read it back.

Use cases take the session, the gateway, the catalog and `now`; they never commit. The
errors of this domain live in `kasacare.payments.errors` (the gateway raises them too) and
are re-exported here.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.catalog.schemas import Catalog
from kasacare.notifications.reminders import schedule_card
from kasacare.payments.cards import inspect_card
from kasacare.payments.errors import (
    BRAND_NAMES,
    CardBrandNotSupported,
    CardDeclined,
    CardInvalid,
    PaymentMethodRequired,
)
from kasacare.payments.gateway import CardDetails, PaymentGateway
from kasacare.payments.models import PaymentMethod
from kasacare.payments.repository import PaymentMethodRepository

__all__ = [
    "CardBrandNotSupported",
    "CardDeclined",
    "CardInvalid",
    "PaymentMethodRequired",
    "get_payment_method",
    "require_payment_method",
    "set_payment_method",
    "tokenize_card",
]


def tokenize_card(
    gateway: PaymentGateway,
    catalog: Catalog,
    now: datetime,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
) -> str:
    """A gateway token for a card the catalog accepts (M1). The number and CVC go to the
    gateway and nowhere else. CardInvalid, CardBrandNotSupported."""
    inspect_card(number, exp_month, exp_year, cvc, now, accepted=catalog.card_brands)
    return gateway.tokenize(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc, now=now)


def set_payment_method(
    session: Session,
    gateway: PaymentGateway,
    catalog: Catalog,
    now: datetime,
    account: Account,
    token: str,
) -> PaymentMethod:
    """Put the card behind `token` on file for `account`, replacing any card there (M2).

    The gateway checks the token (CardInvalid: unknown or expired); a brand outside the
    catalog is refused (CardBrandNotSupported). Moves no money.
    """
    card = gateway.attach(token, now=now)
    if card.brand not in catalog.card_brands:
        raise CardBrandNotSupported.refusing(BRAND_NAMES[card.brand], catalog.card_brands)
    methods = PaymentMethodRepository(session)
    method = methods.for_account(account.id, for_update=True)
    if method is None:
        try:
            with session.begin_nested():
                return methods.add(_new(account, token, card, now))
        except IntegrityError:
            # Another request put a first card on file meanwhile: replace theirs.
            method = methods.for_account(account.id, for_update=True)
            assert method is not None
    _fill(method, token, card, now)
    session.flush()
    return method


def get_payment_method(session: Session, account: Account) -> PaymentMethod | None:
    return PaymentMethodRepository(session).for_account(account.id)


def require_payment_method(session: Session, account: Account) -> PaymentMethod:
    """The card on file, or PaymentMethodRequired (402) when there is none."""
    method = get_payment_method(session, account)
    if method is None:
        raise PaymentMethodRequired("Add a card first: PUT /v1/payment-method")
    return method


def _new(account: Account, token: str, card: CardDetails, now: datetime) -> PaymentMethod:
    method = PaymentMethod(id=uuid.uuid4(), account_id=account.id, created_at=now)
    _fill(method, token, card, now)
    return method


def _fill(method: PaymentMethod, token: str, card: CardDetails, now: datetime) -> None:
    method.gateway_token = token
    method.brand = card.brand
    method.funding = card.funding
    method.last4 = card.last4
    method.exp_month = card.exp_month
    method.exp_year = card.exp_year
    method.updated_at = now
    schedule_card(method)
