"""The one step that carries out a billing plan: documents through the payer, money moves,
rows, erasure notices, in the plan's order; then every held clip of the account gets the
window its camera now has (C4, V3: erased in this transaction if it fell outside; V6:
lengthened if the window grew). It never commits: the caller (or `run_charged`) does, so
one use case is one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kasacare.billing import service as billing
from kasacare.billing.charging import Payer
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import record_erasure
from kasacare.legacy import service as legacy
from kasacare.notifications.models import Kind
from kasacare.notifications.reminders import schedule_subscription
from kasacare.notifications.service import notify
from kasacare.renewals.ending import apply_ending
from kasacare.subscriptions.models import EndReason, PlanId, Status, Subscription
from kasacare.subscriptions.quote import Quote
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.use_cases.plan import (
    BillingPlan,
    ChangeSeats,
    CreateSubscription,
    EndCoverage,
    EndSubscription,
    IssueCredit,
    IssueInvoice,
    RecordErasure,
    Refund,
    StartTrial,
    TerminateLegacy,
)
from kasacare.subscriptions.use_cases.scope import Scope


@dataclass(frozen=True, slots=True)
class Outcome:
    """An applied plan's quote and the live subscription after it (None: none is left)."""

    quote: Quote
    subscription: Subscription | None


def apply(scope: Scope, payer: Payer, plan: BillingPlan) -> Outcome:
    """Carry out `plan` in the caller's transaction (see the module docstring)."""
    session, now, account = scope.session, scope.now, scope.account
    subscription = None
    for effect in plan.effects:
        match effect:
            case TerminateLegacy(termination):
                legacy.apply_termination(session, scope.catalog, now, account, termination)
            case StartTrial():
                account.trial_started_at = now
            case CreateSubscription():
                subscription = _create(scope, effect)
            case IssueInvoice(subscription_id, lines, pays):
                billing.issue_invoice(
                    session,
                    payer,
                    now,
                    account,
                    subscription_id=subscription_id,
                    lines=lines,
                    pays=pays,
                )
            case IssueCredit(subscription_id, lines, goodwill):
                billing.issue_credit(
                    session,
                    now,
                    account,
                    subscription_id=subscription_id,
                    lines=lines,
                    goodwill=goodwill,
                )
            case Refund(refund):
                billing.issue_cancel_refund(session, now, account, refund)
            case EndCoverage(ending):
                # M5, C1: a past_due subscription's open invoice is voided (number kept).
                apply_ending(session, scope.catalog, now, account, ending, reconcile=False)
            case EndSubscription(live, reason):
                end_subscription(scope.repo, live, now, reason)
            case RecordErasure(erased):
                record_erasure(session, account.id, now, list(erased))
            case ChangeSeats():
                subscription = _change_seats(scope, effect)
    reconcile_account(session, scope.catalog, account.id, now)
    return Outcome(plan.quote, subscription)


def _create(scope: Scope, new: CreateSubscription) -> Subscription:
    repo = scope.repo
    scope.session.flush()  # a subscription this change ended goes first (one live at a time)
    subscription = repo.add(
        Subscription(
            id=new.id,
            account_id=scope.account.id,
            plan=PlanId(new.plan.id),
            cycle=new.cycle,
            status=new.status,
            currency=scope.currency,
            unit_price=new.price.amount,
            tax=new.tax.as_json(),
            anchor=new.end if new.trial_end is not None else new.start,
            trial_end=new.trial_end,
            current_period_start=new.start,
            current_period_end=new.end,
            created_at=scope.now,
            ended_at=None,
            end_reason=None,
            dunning_since=None,
            retries_done=0,
            next_retry_at=None,
        )
    )
    schedule_subscription(subscription)
    for camera in new.cameras:
        repo.add_seat(subscription.id, camera.id, scope.now)
    return repo.refresh_seats(subscription)


def _change_seats(scope: Scope, change: ChangeSeats) -> Subscription:
    repo, live = scope.repo, change.subscription
    live.plan = change.plan
    live.unit_price = change.unit_price.amount
    repo.remove_seats(live.id, change.removed, scope.now)
    for camera_id in change.added:
        repo.add_seat(live.id, camera_id, scope.now)
    return repo.refresh_seats(live)


def end_subscription(
    repo: SubscriptionRepository, live: Subscription, now: datetime, reason: EndReason
) -> None:
    """The subscription becomes history; its cameras fall back to their free plan (F4)."""
    repo.remove_seats(live.id, live.camera_ids, now)
    live.status = Status.ENDED
    live.ended_at = now
    live.end_reason = reason
    live.next_retry_at = None
    if reason is EndReason.CYCLE_CHANGE:
        return  # the owner's plan goes on under a new subscription: nothing ended for them
    notify(
        repo.session,
        live.account_id,
        Kind.SUBSCRIPTION_ENDED,
        now,
        {"subscription_id": str(live.id), "plan": live.plan.value, "reason": reason.value},
    )
