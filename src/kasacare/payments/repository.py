"""Every card-on-file query (the sandbox gateway keeps its own, in sandbox.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.payments.models import PaymentMethod


class PaymentMethodRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def for_account(
        self, account_id: uuid.UUID, *, for_update: bool = False
    ) -> PaymentMethod | None:
        query = select(PaymentMethod).where(PaymentMethod.account_id == account_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def add(self, method: PaymentMethod) -> PaymentMethod:
        self.session.add(method)
        self.session.flush()
        return method
