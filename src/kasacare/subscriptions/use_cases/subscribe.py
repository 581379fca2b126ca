"""Subscribe: a paid first period, or the account's one free trial (T1, T4); with live
legacy subscriptions, the migration of L3: they all end in the same transaction with their
refunds, once the owner confirms."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from kasacare.billing import service as billing
from kasacare.billing.charging import Pays
from kasacare.billing.rules import LineDraft, settle, total
from kasacare.billing.tax import TaxTreatment
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Plan
from kasacare.entitlements.rules import EntitlementSource, PaidCoverage
from kasacare.kit.calendar import Cycle, period_start
from kasacare.kit.money import Money
from kasacare.legacy import service as legacy
from kasacare.legacy.errors import LegacyConfirmationRequired
from kasacare.legacy.models import LegacyEndReason
from kasacare.payments.service import require_payment_method
from kasacare.subscriptions.errors import PlanTypeConflict, SubscriptionExists, TrialAlreadyUsed
from kasacare.subscriptions.models import Status
from kasacare.subscriptions.quote import NextInvoice, Quote, quote_json
from kasacare.subscriptions.rules import SeatState, net_of_credit
from kasacare.subscriptions.use_cases.plan import (
    BillingPlan,
    CreateSubscription,
    IssueInvoice,
    Refund,
    StartTrial,
    TerminateLegacy,
)
from kasacare.subscriptions.use_cases.scope import Scope


def plan_subscribe(
    scope: Scope,
    plan_id: str,
    cycle: Cycle,
    camera_ids: Sequence[uuid.UUID],
    *,
    trial: bool,
    confirm_legacy_termination: bool = False,
) -> BillingPlan:
    """A new plan (see the module docstring). Unconfirmed, a migration is refused with its
    quote (409 legacy_confirmation_required)."""
    live = scope.repo.live(scope.account.id)
    plan = scope.plan(plan_id)
    if live is not None:
        if live.plan == plan.id:
            raise SubscriptionExists(
                f"The account already has {plan.name}; change it or add cameras instead"
            )
        raise PlanTypeConflict(
            f"The account has {scope.catalog.plans[live.plan].name}: change plan instead"
        )
    migrating = bool(legacy.live_for(scope.session, scope.account))
    if migrating and not confirm_legacy_termination:
        legacy.refuse_app_store(legacy.live_for(scope.session, scope.account))
        preview = plan_subscribe(
            scope, plan_id, cycle, camera_ids, trial=trial, confirm_legacy_termination=True
        )
        raise LegacyConfirmationRequired(
            "Subscribing ends all your legacy subscriptions, each with a prorated refund "
            "to your card. This cannot be undone: legacy plans cannot be bought again. "
            "Send confirm_legacy_termination: true to go ahead.",
            quote=quote_json(preview.quote),
        )
    tax = scope.tax()
    price = scope.price(plan, cycle, tax)
    cameras = scope.owned_cameras(camera_ids)
    scope.check_limit(plan, len(cameras))
    if not migrating:
        scope.check_uncovered(cameras, None)
        return _new(scope, plan, cycle, cameras, price, tax, trial)
    # L3: every legacy plan ends first, in the same transaction; the cameras they cover
    # are the new plan's then (P4 holds: no new plan is live, as checked above).
    source = EntitlementSource.TRIAL if trial else EntitlementSource(plan.id)
    taken_over = {c.id: PaidCoverage(source, plan.history_days * 24) for c in cameras}
    termination = legacy.plan_termination(
        scope.session,
        scope.catalog,
        scope.now,
        scope.account,
        LegacyEndReason.MIGRATED,
        covered_after=taken_over,
    )
    new = _new(scope, plan, cycle, cameras, price, tax, trial)
    # M9: legacy coverage ended; what the new plan's first invoice leaves of the balance
    # goes back to the card payments (its goodwill part stays).
    rest = billing.plan_cancel(scope.session, scope.account, [], spent=new.quote.credit_used)
    quote = Quote(
        charge_now=new.quote.charge_now,
        refund_now=termination.refund_total(scope.currency) + rest.settlement.refund_total,
        credit_added=new.quote.credit_added,
        credit_used=new.quote.credit_used,
        balance_after=rest.settlement.balance_after,
        next_invoice=new.quote.next_invoice,
        erased=termination.erased,
    )
    return BillingPlan(quote, (TerminateLegacy(termination), *new.effects, Refund(rest)))


def _new(
    scope: Scope,
    plan: Plan,
    cycle: Cycle,
    cameras: list[Camera],
    price: Money,
    tax: TaxTreatment,
    trial: bool,
) -> BillingPlan:
    state = SeatState(plan, len(cameras), price)
    balance = scope.balance()
    if trial:
        return _trial(scope, plan, cycle, cameras, state, balance, tax)
    start, end = scope.now, period_start(scope.now, cycle, 1)
    description = f"{state.describe()}, {cycle.value}"
    lines = (LineDraft(description, state.period_value, start, end, tax),)
    settlement = settle(total(lines, scope.currency), balance)
    quote = Quote(
        charge_now=settlement.charge_card,
        refund_now=scope.zero,
        credit_added=scope.zero,
        credit_used=settlement.credit_used,
        balance_after=settlement.balance_after,
        next_invoice=NextInvoice(end, net_of_credit(state, settlement.balance_after)),
    )
    subscription_id = uuid.uuid4()
    create = CreateSubscription(
        subscription_id, plan, cycle, tuple(cameras), price, Status.ACTIVE, start, end, tax
    )
    return BillingPlan(
        quote, (create, IssueInvoice(subscription_id, lines, Pays.purchase(subscription_id)))
    )


def _trial(
    scope: Scope,
    plan: Plan,
    cycle: Cycle,
    cameras: list[Camera],
    state: SeatState,
    balance: Money,
    tax: TaxTreatment,
) -> BillingPlan:
    """T1, T4: once per account, card on file, full entitlement, no money until its end."""
    if scope.account.trial_started_at is not None:
        raise TrialAlreadyUsed("Each Kasa account can start one free trial, once")
    require_payment_method(scope.session, scope.account)
    trial_end = scope.now + timedelta(days=scope.catalog.trial_days)
    quote = Quote.nothing(balance, NextInvoice(trial_end, net_of_credit(state, balance)))
    create = CreateSubscription(
        uuid.uuid4(),
        plan,
        cycle,
        tuple(cameras),
        state.unit_price,
        Status.TRIALING,
        scope.now,
        trial_end,
        tax,
        trial_end,
    )
    return BillingPlan(quote, (StartTrial(), create))
