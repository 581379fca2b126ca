"""Cancels: of the live subscription (C1), and of every legacy subscription (L4)."""

from __future__ import annotations

from functools import partial

from kasacare.billing import service as billing
from kasacare.billing.rules import LineDraft
from kasacare.kit.errors import NotFound
from kasacare.legacy import service as legacy
from kasacare.legacy.models import LegacyEndReason
from kasacare.renewals.ending import plan_ending
from kasacare.subscriptions.models import EndReason, Status
from kasacare.subscriptions.quote import Quote
from kasacare.subscriptions.rules import unused_line
from kasacare.subscriptions.use_cases.apply import end_subscription
from kasacare.subscriptions.use_cases.plan import BillingPlan, EndCoverage, Refund, TerminateLegacy
from kasacare.subscriptions.use_cases.scope import Scope


def plan_cancel(scope: Scope) -> BillingPlan:
    """C1: ends now; prorated refund of the unused part plus the balance (M9); a trial
    charges and refunds nothing of its own (T3) but the balance still goes back (M9);
    past_due refunds nothing for the period (M5) and voids its open invoice."""
    live = scope.live()
    cameras = scope.owned_cameras(live.camera_ids, allow_empty=True)
    # A trial was never paid (T3) and a past_due period neither (M5): only the balance
    # goes back (M9).
    unused: list[LineDraft] = []
    if live.status is Status.ACTIVE:
        state = scope.state(live)
        unused = [
            unused_line(
                state,
                live.current_period_start,
                live.current_period_end,
                scope.now,
                scope.period_tax(live),
            )
        ]
    ending = plan_ending(
        scope.session,
        scope.catalog,
        scope.now,
        scope.account,
        plan_id=live.id,
        cameras=cameras,
        end=partial(end_subscription, scope.repo, live, scope.now, EndReason.CANCELLED),
        refund=unused,
        paid_by_goodwill=scope.goodwill_share(live, unused),
    )
    assert ending.refund is not None
    money = ending.refund.settlement
    quote = Quote(
        charge_now=scope.zero,
        refund_now=money.refund_total,
        credit_added=money.credit_rest,
        credit_used=scope.zero,
        balance_after=money.balance_after,
        next_invoice=None,
        erased=ending.erased,
    )
    return BillingPlan(quote, (EndCoverage(ending),))


def plan_cancel_legacy(scope: Scope) -> BillingPlan:
    """L4: end every legacy subscription with its prorated refund."""
    if not legacy.live_for(scope.session, scope.account):
        raise NotFound("No live legacy subscription")
    termination = legacy.plan_termination(
        scope.session, scope.catalog, scope.now, scope.account, LegacyEndReason.CANCELLED
    )
    # M9: paid coverage ended: the balance goes back to the card payments.
    rest = billing.plan_cancel(scope.session, scope.account, [])
    quote = Quote(
        charge_now=scope.zero,
        refund_now=termination.refund_total(scope.currency) + rest.settlement.refund_total,
        credit_added=scope.zero,
        credit_used=scope.zero,
        balance_after=rest.settlement.balance_after,
        next_invoice=None,
        erased=termination.erased,
    )
    return BillingPlan(quote, (TerminateLegacy(termination), Refund(rest)))
