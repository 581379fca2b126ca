"""The refund outbox (M4): refunds decided in a committed transaction, carried out after it.

Each row's gateway key is `refund:<credit_note>:<charge>` (or `refund:<credit_note>:<legacy>`
for a card credit), so a crash between the gateway's
answer and our marking the row done, then a rerun, refunds once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from kasacare.billing.models import OutboxStatus
from kasacare.billing.repository import BillingRepository
from kasacare.kit.db import session_scope
from kasacare.kit.money import Money
from kasacare.payments.gateway import PaymentGateway


def carry_out_refunds(
    sessions: sessionmaker[Session], gateway: PaymentGateway, now: datetime
) -> int:
    """Carry out every pending refund, one committed row at a time. Returns how many."""
    done = 0
    while True:
        with session_scope(sessions) as session:
            rows = BillingRepository(session).pending_refunds(limit=1)
            if not rows:
                return done
            row = rows[0]
            amount = Money(row.amount, row.currency)
            if row.gateway_charge_id is not None:
                refund = gateway.refund(
                    charge_id=row.gateway_charge_id,
                    amount=amount,
                    idempotency_key=row.idempotency_key,
                    now=now,
                )
            else:
                assert row.card_token is not None
                refund = gateway.credit_card(
                    token=row.card_token,
                    amount=amount,
                    idempotency_key=row.idempotency_key,
                    now=now,
                )
            row.status = OutboxStatus.DONE
            row.gateway_refund_id = refund.id
            row.done_at = now
        done += 1
