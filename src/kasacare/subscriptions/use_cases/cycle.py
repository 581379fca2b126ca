"""A change of billing cycle (P5): a cancel of the live subscription (prorated refund of
its unused part) plus a new subscription with a new id, in one step and never with a second
trial. The credit balance is not refunded: it pays the new first invoice. During a trial
the new subscription stays trialing with the same trial_end and no money moves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from kasacare.billing import service as billing
from kasacare.billing.charging import Pays
from kasacare.billing.rules import LineDraft, settle, total
from kasacare.catalog.schemas import Plan
from kasacare.kit.calendar import Cycle, period_start
from kasacare.subscriptions.models import EndReason, Status, Subscription
from kasacare.subscriptions.quote import NextInvoice, Quote
from kasacare.subscriptions.rules import SeatState, net_of_credit, unused_line
from kasacare.subscriptions.use_cases.plan import (
    BillingPlan,
    CreateSubscription,
    EndSubscription,
    IssueInvoice,
    RecordErasure,
    Refund,
)
from kasacare.subscriptions.use_cases.scope import Scope


def plan_cycle_change(
    scope: Scope,
    live: Subscription,
    plan: Plan,
    cycle: Cycle,
    camera_ids: Sequence[uuid.UUID],
) -> BillingPlan:
    """P5 (see the module docstring)."""
    tax = scope.tax()
    price = scope.price(plan, cycle, tax)
    cameras = scope.owned_cameras(camera_ids)
    scope.check_limit(plan, len(cameras))
    scope.check_uncovered(cameras, live.id)
    kept = {camera.id for camera in cameras}
    dropped = scope.owned_cameras(
        [cid for cid in live.camera_ids if cid not in kept], allow_empty=True
    )
    erased = tuple(scope.erasures(dropped, {camera.id: None for camera in dropped}))
    state = SeatState(plan, len(cameras), price)
    balance = scope.balance()
    ended = (EndSubscription(live, EndReason.CYCLE_CHANGE), RecordErasure(erased))
    new_id = uuid.uuid4()
    if live.status is Status.TRIALING:
        assert live.trial_end is not None
        quote = Quote.nothing(
            balance, NextInvoice(live.trial_end, net_of_credit(state, balance)), erased
        )
        trialing = CreateSubscription(
            new_id,
            plan,
            cycle,
            tuple(cameras),
            price,
            Status.TRIALING,
            scope.now,
            live.trial_end,
            tax,
            live.trial_end,
        )
        return BillingPlan(quote, (*ended, trialing))
    old = scope.state(live)
    period_tax = scope.period_tax(live)
    unused = [
        unused_line(old, live.current_period_start, live.current_period_end, scope.now, period_tax)
    ]
    start, end = scope.now, period_start(scope.now, cycle, 1)
    description = f"{state.describe()}, {cycle.value}"
    lines = (LineDraft(description, state.period_value, start, end, tax),)
    cancelled = billing.plan_cancel(
        scope.session,
        scope.account,
        unused,
        subscription_id=live.id,
        refund_balance=False,
        paid_by_goodwill=scope.goodwill_share(live, unused),
    )
    settlement = settle(total(lines, scope.currency), cancelled.settlement.balance_after)
    quote = Quote(
        charge_now=settlement.charge_card,
        refund_now=cancelled.settlement.refund_total,
        credit_added=cancelled.settlement.credit_rest,
        credit_used=settlement.credit_used,
        balance_after=settlement.balance_after,
        next_invoice=NextInvoice(end, net_of_credit(state, settlement.balance_after)),
        erased=erased,
    )
    paid = CreateSubscription(
        new_id, plan, cycle, tuple(cameras), price, Status.ACTIVE, start, end, tax
    )
    return BillingPlan(
        quote, (Refund(cancelled), *ended, paid, IssueInvoice(new_id, lines, Pays.purchase(new_id)))
    )
