"""Changes within the current period (C2, C3): another plan or camera set, a camera added
or removed (removing the last one is a cancel). A change of cycle is `cycle.py` (P5)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from kasacare.billing.charging import Pays
from kasacare.billing.rules import LineDraft, settle, total
from kasacare.kit.calendar import Cycle
from kasacare.kit.errors import NotFound
from kasacare.subscriptions.errors import CameraSubscribed
from kasacare.subscriptions.models import PlanId, Status, Subscription
from kasacare.subscriptions.quote import NextInvoice, Quote
from kasacare.subscriptions.rules import SeatState, change_lines, net_of_credit
from kasacare.subscriptions.use_cases.cancel import plan_cancel
from kasacare.subscriptions.use_cases.cycle import plan_cycle_change
from kasacare.subscriptions.use_cases.plan import (
    BillingPlan,
    ChangeSeats,
    Effect,
    IssueCredit,
    IssueInvoice,
    RecordErasure,
)
from kasacare.subscriptions.use_cases.scope import Scope


def plan_change(
    scope: Scope, plan_id: str, cycle: Cycle, camera_ids: Sequence[uuid.UUID]
) -> BillingPlan:
    live = scope.changeable()
    plan = scope.plan(plan_id)
    if cycle is not live.cycle:
        return plan_cycle_change(scope, live, plan, cycle, camera_ids)
    return _plan_change_to(scope, live, PlanId(plan.id), camera_ids)


def plan_add_camera(scope: Scope, camera_id: uuid.UUID) -> BillingPlan:
    live = scope.changeable()
    if camera_id in live.camera_ids:
        raise CameraSubscribed("The camera is already in this subscription")
    return _plan_change_to(scope, live, live.plan, [*live.camera_ids, camera_id])


def plan_remove_camera(scope: Scope, camera_id: uuid.UUID) -> BillingPlan:
    live = scope.live()
    if camera_id not in live.camera_ids:
        raise NotFound("The camera is not in this subscription")
    if live.camera_ids == [camera_id]:
        return plan_cancel(scope)  # C3: removing the last camera is a cancel
    scope.changeable(live)
    remaining = [cid for cid in live.camera_ids if cid != camera_id]
    return _plan_change_to(scope, live, live.plan, remaining)


def _plan_change_to(
    scope: Scope, live: Subscription, plan_id: PlanId, camera_ids: Sequence[uuid.UUID]
) -> BillingPlan:
    """C2, C3: from the live state to a new plan and camera set in the same period."""
    plan = scope.catalog.plans[plan_id]
    cameras = scope.owned_cameras(camera_ids)
    scope.check_limit(plan, len(cameras))
    scope.check_uncovered(cameras, live.id)
    old = scope.state(live)
    # A new type is valued at the catalog price now; the same type as invoiced. Both at the
    # tax the period was invoiced at (a new address is taxed from the next period).
    tax = scope.period_tax(live)
    unit = old.unit_price if plan.id == live.plan else scope.price(plan, live.cycle, tax)
    new = SeatState(plan, len(cameras), unit)
    removed = [cid for cid in live.camera_ids if cid not in {c.id for c in cameras}]
    removed_cameras = scope.owned_cameras(removed, allow_empty=True)
    erased = scope.erasures(removed_cameras, {cid: None for cid in removed})
    lines: list[LineDraft] = []
    if live.status is not Status.TRIALING and old.period_value != new.period_value:
        lines = change_lines(
            old, new, live.current_period_start, live.current_period_end, scope.now, tax
        )
    net = total(lines, scope.currency)
    settlement = settle(net, scope.balance())
    quote = Quote(
        charge_now=settlement.charge_card,
        refund_now=scope.zero,
        credit_added=settlement.credit_added,
        credit_used=settlement.credit_used,
        balance_after=settlement.balance_after,
        next_invoice=NextInvoice(
            live.current_period_end,
            net_of_credit(scope.catalog_state(new, live.cycle), settlement.balance_after),
        ),
        erased=tuple(erased),
    )
    effects: list[Effect] = []
    if lines and net.amount >= 0:
        effects.append(IssueInvoice(live.id, tuple(lines), Pays.purchase(live.id)))
    elif lines:
        credited = tuple(line.negated() for line in lines)
        effects.append(IssueCredit(live.id, credited, scope.goodwill_share(live, credited)))
    added = tuple(camera.id for camera in cameras if camera.id not in live.camera_ids)
    effects += [
        RecordErasure(tuple(erased)),
        ChangeSeats(live, plan_id, unit, tuple(removed), added),
    ]
    return BillingPlan(quote, tuple(effects))
