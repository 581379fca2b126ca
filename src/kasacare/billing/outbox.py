"""The refund outbox (M4): refunds decided in a committed transaction, carried out after it.

Each row's gateway key is `refund:<credit_note>:<charge>` (or `refund:<credit_note>:<legacy>`
for a card credit), so a crash between the gateway's answer and our marking the row done,
then a rerun, refunds once. Each row is its own transaction: a row the gateway refuses is
counted, waits for its back-off and never blocks the others.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from kasacare.billing.models import OutboxStatus, RefundOutbox
from kasacare.billing.repository import BillingRepository
from kasacare.kit.backoff import backoff
from kasacare.kit.db import session_scope
from kasacare.kit.failpoints import failpoint
from kasacare.kit.money import Money
from kasacare.payments.gateway import PaymentGateway

log = logging.getLogger("kasacare.billing.outbox")


def carry_out_refunds(
    sessions: sessionmaker[Session], gateway: PaymentGateway, now: datetime
) -> int:
    """Carry out every pending refund due at `now`, one committed row at a time, skipping
    rows another process holds. Returns how many were done."""
    done = 0
    failed: set[uuid.UUID] = set()
    while True:
        with session_scope(sessions) as session:
            rows = BillingRepository(session).pending_refunds(now, exclude=failed, limit=1)
            if not rows:
                return done
            row_id = rows[0].id
            try:
                _carry_out(gateway, now, rows[0])
            except Exception as error:
                failed.add(row_id)
                session.rollback()
                _count_failure(sessions, now, row_id, error)
                continue
        done += 1


def _carry_out(gateway: PaymentGateway, now: datetime, row: RefundOutbox) -> None:
    amount = Money(row.amount, row.currency)
    failpoint("refund.before_gateway")
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
            token=row.card_token, amount=amount, idempotency_key=row.idempotency_key, now=now
        )
    failpoint("refund.after_gateway")
    row.status = OutboxStatus.DONE
    row.gateway_refund_id = refund.id
    row.done_at = now
    row.next_attempt_at = None


def _count_failure(
    sessions: sessionmaker[Session], now: datetime, row_id: uuid.UUID, error: Exception
) -> None:
    with session_scope(sessions) as session:
        row = session.get(RefundOutbox, row_id, with_for_update=True)
        assert row is not None
        row.attempts += 1
        row.last_error = f"{type(error).__name__}: {error}"[:300]
        row.next_attempt_at = now + backoff(row.attempts)
        attempts, retry_at = row.attempts, row.next_attempt_at
    log.error(
        "refund %s failed (attempt %d; %s): %s",
        row_id,
        attempts,
        f"next at {retry_at.isoformat()}",
        error,
    )
