"""Payment routes: the sandbox tokenizer and the owner's card on file (SPEC M1-M3)."""

from __future__ import annotations

from fastapi import APIRouter, status

from kasacare.accounts.dependencies import Owner
from kasacare.context import Context, DbSession, Now
from kasacare.jobs import retry_on_card_change
from kasacare.kit.errors import NotFound
from kasacare.kit.http import problem_responses
from kasacare.payments import service
from kasacare.payments.dependencies import Gateway
from kasacare.payments.schemas import (
    CardTokenCreate,
    CardTokenRead,
    PaymentMethodRead,
    PaymentMethodUpdate,
)

router = APIRouter(tags=["payments"])

TOKENIZER_PATH = "/v1/sandbox/tokens"


@router.post(
    TOKENIZER_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=CardTokenRead,
    responses=problem_responses(422),
    tags=["sandbox"],
)
def create_card_token(
    body: CardTokenCreate, gateway: Gateway, context: Context, now: Now
) -> CardTokenRead:
    """The sandbox gateway's tokenizer, standing in for a real gateway's client-side one: no
    sign-in needed. The number and CVC are checked, then forgotten."""
    token = service.tokenize_card(
        gateway,
        context.catalog,
        now,
        number=body.number.get_secret_value(),
        exp_month=body.exp_month,
        exp_year=body.exp_year,
        cvc=body.cvc.get_secret_value(),
    )
    return CardTokenRead(token=token)


@router.put(
    "/v1/payment-method",
    response_model=PaymentMethodRead,
    responses=problem_responses(401, 403, 422),
)
def put_payment_method(
    body: PaymentMethodUpdate,
    owner: Owner,
    gateway: Gateway,
    context: Context,
    session: DbSession,
    now: Now,
) -> PaymentMethodRead:
    """Put a tokenized card on file, replacing the one there; a past_due subscription's
    open invoice is retried with it at once (M2)."""
    method = service.set_payment_method(session, gateway, context.catalog, now, owner, body.token)
    read = PaymentMethodRead.of(method)
    session.commit()
    retry_on_card_change(context, now, owner.id)
    return read


@router.get(
    "/v1/payment-method",
    response_model=PaymentMethodRead,
    responses=problem_responses(401, 403, 404),
)
def get_payment_method(owner: Owner, session: DbSession) -> PaymentMethodRead:
    method = service.get_payment_method(session, owner)
    if method is None:
        raise NotFound("No card on file")
    return PaymentMethodRead.of(method)
