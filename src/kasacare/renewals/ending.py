"""The one step that ends a plan's paid coverage, whatever ends it: a cancel, the end of
dunning, a legacy termination (cancel, migration, expiry), a support resolution.

In this order, in the caller's transaction: the history the cameras lose is computed (unless
the caller's quote already did), the plan's open invoice is voided (it keeps its number: M5,
M8), the unused part and the credit balance are refunded (C1, M9) where the caller asks, the
plan ends (its own `end`), the erasure is recorded (the `history_erased` notice, C4) and the
account's clips get their new windows (V3: erased now, bytes deleted after the commit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing import service as billing
from kasacare.billing.rules import CancelSettlement, LineDraft
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import Erasure, erasures, record_erasure
from kasacare.entitlements.rules import PaidCoverage
from kasacare.kit.money import Money


def end_paid_coverage(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    *,
    plan_id: uuid.UUID,
    cameras: Sequence[Camera],
    end: Callable[[], None],
    refund: Sequence[LineDraft] | None = None,
    refund_balance: bool = True,
    paid_by_goodwill: Money | None = None,
    covered_after: Mapping[uuid.UUID, PaidCoverage] | None = None,
    erased: list[Erasure] | None = None,
    reconcile: bool = True,
) -> tuple[list[Erasure], CancelSettlement | None]:
    """End the paid coverage of plan `plan_id` (see the module docstring).

    `refund`: the unused lines to refund (None: nothing is refunded here, not even the
    balance; `[]`: only the balance, M9). `covered_after`: cameras another plan takes over
    in the same transaction (a migration). `paid_by_goodwill`: the part of the unused time
    that goodwill credit paid (`billing.goodwill_share`), which stays goodwill.
    `reconcile=False` leaves the clips' windows to the caller, which still has coverage to
    add (a migration's new plan)."""
    if erased is None:
        after = covered_after or {}
        erased = erasures(
            session, catalog, now, list(cameras), {c.id: after.get(c.id) for c in cameras}
        )
    billing.void_open_invoices(session, plan_id)
    settlement = None
    if refund is not None:
        settlement = billing.refund_on_cancel(
            session,
            now,
            account,
            subscription_id=plan_id,
            unused_lines=refund,
            refund_balance=refund_balance,
            paid_by_goodwill=paid_by_goodwill,
        )
    end()
    record_erasure(session, account.id, now, erased)
    if reconcile:
        reconcile_account(session, catalog, account.id, now)
    return erased, settlement
