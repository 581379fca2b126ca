"""The payment reconciler: no gateway charge is ever left without a recorded outcome (M4).

Every charge is made under the key of a payment attempt committed before it
(`kasacare.billing.charging`), and the attempt becomes `succeeded` in the very transaction
that issues the invoice it pays. So an attempt still `pending` some time after it was made
(`RECONCILE_AFTER`) is one whose process died, or whose commit failed, between its commit and
the use case's: the reconciler asks the gateway what it took under the attempt's key and
refunds it (`reversed`), or records that nothing was taken (`abandoned`). Attempts left
`reversing` (a refund that did not finish) are carried out again, under the same key.

Each attempt is its own transaction; one the gateway keeps failing is logged and retried at
the next run, and never blocks the others.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kasacare.billing.charging import reverse
from kasacare.billing.models import AttemptStatus, PaymentAttempt
from kasacare.kit.db import session_scope
from kasacare.payments.gateway import PaymentGateway

log = logging.getLogger("kasacare.billing.reconciler")

#: How long an attempt may stay pending before the reconciler settles it: far longer than a
#: use case takes between its attempt's commit and its own.
RECONCILE_AFTER = timedelta(minutes=10)


def reconcile_payments(
    sessions: sessionmaker[Session],
    gateway: PaymentGateway,
    now: datetime,
    *,
    after: timedelta = RECONCILE_AFTER,
) -> int:
    """Settle every attempt pending since before `now - after`, and every one left
    `reversing`. Returns how many were settled."""
    with session_scope(sessions) as session:
        stale = list(
            session.scalars(
                select(PaymentAttempt.id)
                .where(
                    (
                        (PaymentAttempt.status == AttemptStatus.PENDING)
                        & (PaymentAttempt.created_at <= now - after)
                    )
                    | (PaymentAttempt.status == AttemptStatus.REVERSING)
                )
                .order_by(PaymentAttempt.created_at, PaymentAttempt.id)
            )
        )
    settled = 0
    for attempt_id in stale:
        if _settle_one(sessions, gateway, now, attempt_id):
            settled += 1
    return settled


def _settle_one(
    sessions: sessionmaker[Session], gateway: PaymentGateway, now: datetime, attempt_id: uuid.UUID
) -> bool:
    session = sessions()
    try:
        reverse(session, gateway, now, attempt_id, None)
        return True
    except Exception:
        session.rollback()
        log.exception(
            "payment attempt %s: reconciliation failed; retried at the next run", attempt_id
        )
        return False
    finally:
        session.close()
