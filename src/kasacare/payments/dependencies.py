"""The payment gateway of the running service, for routes that move money."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from kasacare.context import Context
from kasacare.payments.gateway import PaymentGateway


def get_gateway(context: Context) -> PaymentGateway:
    return context.gateway


Gateway = Annotated[PaymentGateway, Depends(get_gateway)]
