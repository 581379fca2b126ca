"""The one step that ends a plan's paid coverage, whatever ends it: a cancel, the end of
dunning, a legacy termination (cancel, migration, expiry), a support resolution.

Planned (`plan_ending`, reads only): the history the cameras lose and, where the caller
asks, the refund of the unused part and the credit balance (C1, M9). Applied
(`apply_ending`), in this order, in the caller's transaction: the plan's open invoice is
voided (it keeps its number: M5, M8), the refund is issued, the plan ends (its own `end`),
the erasure is recorded (the `history_erased` notice, C4) and the account's clips get their
new windows (V3: erased now, bytes deleted after the commit). `end_paid_coverage` is both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing import service as billing
from kasacare.billing.rules import LineDraft
from kasacare.billing.service import CancelRefund
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import Erasure, erasures, record_erasure
from kasacare.entitlements.rules import PaidCoverage
from kasacare.kit.money import Money


@dataclass(frozen=True, slots=True)
class Ending:
    """The end of plan `plan_id`'s paid coverage, as planned: its own `end`, the history
    its cameras lose, and its refund (None: nothing is refunded here, not even the
    balance)."""

    plan_id: uuid.UUID
    end: Callable[[], None]
    erased: tuple[Erasure, ...]
    refund: CancelRefund | None = None


def plan_ending(
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
) -> Ending:
    """`refund`: the unused lines to refund (None: nothing is refunded, not even the
    balance; `[]`: only the balance, M9). `covered_after`: cameras another plan takes over
    in the same transaction (a migration). `paid_by_goodwill`: the part of the unused time
    that goodwill credit paid (`billing.goodwill_share`), which stays goodwill."""
    after = covered_after or {}
    erased = erasures(
        session, catalog, now, list(cameras), {c.id: after.get(c.id) for c in cameras}
    )
    planned = None
    if refund is not None:
        planned = billing.plan_cancel(
            session,
            account,
            refund,
            subscription_id=plan_id,
            refund_balance=refund_balance,
            paid_by_goodwill=paid_by_goodwill,
        )
    return Ending(plan_id, end, tuple(erased), planned)


def apply_ending(
    session: Session,
    catalog: Catalog,
    now: datetime,
    account: Account,
    ending: Ending,
    *,
    reconcile: bool = True,
) -> None:
    """Carry out `ending` (see the module docstring). `reconcile=False` leaves the clips'
    windows to the caller, which reconciles once all its changes are made (a use case's
    `apply`, a legacy termination)."""
    billing.void_open_invoices(session, ending.plan_id)
    if ending.refund is not None:
        billing.issue_cancel_refund(session, now, account, ending.refund)
    ending.end()
    record_erasure(session, account.id, now, list(ending.erased))
    if reconcile:
        reconcile_account(session, catalog, account.id, now)


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
) -> None:
    """End the paid coverage of plan `plan_id` now, as planned by `plan_ending` (whose
    arguments these are), then give the account's clips their windows."""
    ending = plan_ending(
        session, catalog, now, account, plan_id=plan_id, cameras=cameras, end=end, refund=refund
    )
    apply_ending(session, catalog, now, account, ending)
