"""Subscription use cases: subscribe (with or without trial), add and remove a camera,
change plan or cameras, cancel. Each can run as a preview (`dry_run=True`): the same code
computes the quote and stops before it writes or moves money. Services never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kasacare.accounts.models import Account
from kasacare.billing import service as billing
from kasacare.billing.charging import Payer, Pays, Planning
from kasacare.billing.rules import LineDraft, settle, total
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog, Plan
from kasacare.clips.retention import reconcile_account
from kasacare.entitlements.erasure import Erasure, erasures, record_erasure
from kasacare.entitlements.rules import EntitlementSource, PaidCoverage
from kasacare.kit.calendar import Cycle, period_start
from kasacare.kit.errors import NotFound, ValidationFailed
from kasacare.kit.money import Money
from kasacare.legacy import service as legacy
from kasacare.legacy.errors import LegacyConfirmationRequired
from kasacare.legacy.models import LegacyEndReason
from kasacare.legacy.repository import LegacyRepository
from kasacare.notifications.models import Kind
from kasacare.notifications.reminders import schedule_subscription
from kasacare.notifications.service import notify
from kasacare.payments.service import require_payment_method
from kasacare.renewals.ending import end_paid_coverage
from kasacare.subscriptions.errors import (
    CameraSubscribed,
    PlanTypeConflict,
    PremiumCameraLimit,
    SubscriptionExists,
    SubscriptionPastDue,
    TrialAlreadyUsed,
)
from kasacare.subscriptions.models import EndReason, PlanId, Status, Subscription
from kasacare.subscriptions.quote import NextInvoice, Quote, quote_json
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.rules import SeatState, change_lines, unused_line

P = ParamSpec("P")


def _retaining(
    use_case: Callable[Concatenate[Subscriptions, P], Outcome],
) -> Callable[Concatenate[Subscriptions, P], Outcome]:
    """After a use case that really ran (not a preview), every held clip of the account
    gets the window its camera now has: erased in this transaction if it fell outside (C4,
    V3), lengthened if the window grew (V6)."""

    def run(self: Subscriptions, /, *args: P.args, **kwargs: P.kwargs) -> Outcome:
        outcome = use_case(self, *args, **kwargs)
        if not kwargs.get("dry_run", False):
            reconcile_account(self.session, self.catalog, self.account.id, self.now)
        return outcome

    run.__doc__ = use_case.__doc__
    return run


@dataclass(slots=True)
class Outcome:
    """A use case's quote and, unless it was a preview, the live subscription after it."""

    quote: Quote
    subscription: Subscription | None


class Subscriptions:
    """The use cases of one owner's account at one instant."""

    def __init__(
        self,
        session: Session,
        catalog: Catalog,
        payer: Payer,
        now: datetime,
        account: Account,
        *,
        lock: bool = True,
    ) -> None:
        self.session = session
        self.catalog = catalog
        #: How invoices get card money (`billing.charging`); previews never reach it.
        self.payer = payer
        self.now = now
        self.repo = SubscriptionRepository(session)
        # Lock the account row: its billing use cases run one at a time (T1, P1, P2). Reads
        # (`reading`) take no lock: a page or GET never waits for a change, nor holds one up.
        self.account = self.repo.lock_account(account.id) if lock else account
        self.currency = billing.currency_of(self.account)

    @classmethod
    def reading(
        cls, session: Session, catalog: Catalog, now: datetime, account: Account
    ) -> Subscriptions:
        """For reads only (`live`, `next_invoice`): no lock, no payer."""
        return cls(session, catalog, Planning(), now, account, lock=False)

    # ---- reads -------------------------------------------------------------------------

    def live(self) -> Subscription:
        subscription = self.repo.live(self.account.id)
        if subscription is None:
            raise NotFound("No live Kasa Care subscription")
        return subscription

    def next_invoice(self, subscription: Subscription, balance: Money | None = None) -> NextInvoice:
        """The next renewal: date and amount at catalog prices, net of credit (P5)."""
        plan = self.catalog.plans[subscription.plan]
        price = self._price(plan, subscription.cycle)
        value = SeatState(plan, len(subscription.seats), price).period_value
        credit = balance if balance is not None else billing.balance(self.session, self.account)
        amount = value - value.min(credit) if credit.amount > 0 else value
        return NextInvoice(subscription.current_period_end, amount)

    # ---- use cases ---------------------------------------------------------------------

    @_retaining
    def subscribe(
        self,
        plan_id: str,
        cycle: Cycle,
        camera_ids: Sequence[uuid.UUID],
        *,
        trial: bool,
        confirm_legacy_termination: bool = False,
        dry_run: bool = False,
    ) -> Outcome:
        """A new plan; with live legacy subscriptions this is the migration of L3: they all
        end in this same transaction with their refunds, once the owner confirms."""
        live = self.repo.live(self.account.id)
        plan = self._plan(plan_id)
        if live is not None:
            if live.plan == plan.id:
                raise SubscriptionExists(
                    f"The account already has {plan.name}; change it or add cameras instead"
                )
            raise PlanTypeConflict(
                f"The account has {self.catalog.plans[live.plan].name}: change plan instead"
            )
        migrating = bool(legacy.live_for(self.session, self.account))
        if migrating and not confirm_legacy_termination:
            legacy.refuse_app_store(legacy.live_for(self.session, self.account))
            preview = self.subscribe(
                plan_id,
                cycle,
                camera_ids,
                trial=trial,
                confirm_legacy_termination=True,
                dry_run=True,
            )
            raise LegacyConfirmationRequired(
                "Subscribing ends all your legacy subscriptions, each with a prorated refund "
                "to your card. This cannot be undone: legacy plans cannot be bought again. "
                "Send confirm_legacy_termination: true to go ahead.",
                quote=quote_json(preview.quote),
            )
        price = self._price(plan, cycle)
        cameras = self._owned_cameras(camera_ids)
        self._check_limit(plan, len(cameras))
        termination = None
        if migrating:
            source = EntitlementSource.TRIAL if trial else EntitlementSource(plan.id)
            taken_over = {c.id: PaidCoverage(source, plan.history_days * 24) for c in cameras}
            termination = legacy.terminate_all(
                self.session,
                self.catalog,
                self.now,
                self.account,
                LegacyEndReason.MIGRATED,
                covered_after=taken_over,
                dry_run=dry_run,
            )
        if not (migrating and dry_run):  # in a preview the legacy plans still hold them
            self._check_uncovered(cameras, None)
        outcome = self._subscribe_new(plan, cycle, cameras, price, trial, dry_run)
        if termination is not None:
            # M9: legacy coverage ended; what the new plan's first invoice left of the
            # balance goes back to the card payments (its goodwill part stays).
            if dry_run:
                rest = billing.plan_balance_refund(
                    self.session, self.account, spent=outcome.quote.credit_used
                )
            else:
                rest = billing.refund_on_cancel(
                    self.session, self.now, self.account, subscription_id=None, unused_lines=[]
                )
            outcome.quote.refund_now += termination.refund_total(self.currency)
            outcome.quote.refund_now += rest.refund_total
            outcome.quote.balance_after = rest.balance_after
            outcome.quote.erased += termination.erased
        return outcome

    def _subscribe_new(
        self,
        plan: Plan,
        cycle: Cycle,
        cameras: list[Camera],
        price: Money,
        trial: bool,
        dry_run: bool,
    ) -> Outcome:
        state = SeatState(plan, len(cameras), price)
        balance = billing.balance(self.session, self.account)
        if trial:
            return self._start_trial(plan, cycle, cameras, state, balance, dry_run)
        start, end = self.now, period_start(self.now, cycle, 1)
        lines = [LineDraft(f"{state.describe()}, {cycle.value}", state.period_value, start, end)]
        settlement = settle(total(lines, self.currency), balance)
        quote = Quote(
            charge_now=settlement.charge_card,
            refund_now=Money.zero(self.currency),
            credit_added=Money.zero(self.currency),
            credit_used=settlement.credit_used,
            balance_after=settlement.balance_after,
        )
        quote.next_invoice = NextInvoice(end, self._net(state, settlement.balance_after))
        if dry_run:
            return Outcome(quote, None)
        subscription = self._create(plan, cycle, cameras, price, Status.ACTIVE, start, end, None)
        billing.issue_invoice(
            self.session,
            self.payer,
            self.now,
            self.account,
            subscription_id=subscription.id,
            lines=lines,
            pays=Pays.purchase(subscription.id),
        )
        return Outcome(quote, subscription)

    @_retaining
    def add_camera(self, camera_id: uuid.UUID, *, dry_run: bool = False) -> Outcome:
        live = self._changeable()
        if camera_id in live.camera_ids:
            raise CameraSubscribed("The camera is already in this subscription")
        return self._change_to(live, live.plan, [*live.camera_ids, camera_id], dry_run)

    @_retaining
    def remove_camera(self, camera_id: uuid.UUID, *, dry_run: bool = False) -> Outcome:
        live = self.live()
        if camera_id not in live.camera_ids:
            raise NotFound("The camera is not in this subscription")
        if live.camera_ids == [camera_id]:
            return self.cancel(dry_run=dry_run)  # C3: removing the last camera is a cancel
        self._changeable(live)
        remaining = [cid for cid in live.camera_ids if cid != camera_id]
        return self._change_to(live, live.plan, remaining, dry_run)

    @_retaining
    def change(
        self,
        plan_id: str,
        cycle: Cycle,
        camera_ids: Sequence[uuid.UUID],
        *,
        dry_run: bool = False,
    ) -> Outcome:
        live = self._changeable()
        plan = self._plan(plan_id)
        if cycle is not live.cycle:
            return self._change_cycle(live, plan, cycle, camera_ids, dry_run)
        return self._change_to(live, PlanId(plan.id), camera_ids, dry_run)

    def _change_cycle(
        self,
        live: Subscription,
        plan: Plan,
        cycle: Cycle,
        camera_ids: Sequence[uuid.UUID],
        dry_run: bool,
    ) -> Outcome:
        """P5: a cycle change is a cancel (prorated refund of the unused part) plus a new
        subscription with a new id, in one step and never with a second trial. The credit
        balance is not refunded: it pays the new first invoice. During a trial the new
        subscription stays trialing with the same trial_end and no money moves."""
        price = self._price(plan, cycle)
        cameras = self._owned_cameras(camera_ids)
        self._check_limit(plan, len(cameras))
        self._check_uncovered(cameras, live.id)
        kept = {camera.id for camera in cameras}
        dropped = self._owned_cameras(
            [cid for cid in live.camera_ids if cid not in kept], allow_empty=True
        )
        erased = self._erasures(dropped, {camera.id: None for camera in dropped})
        state = SeatState(plan, len(cameras), price)
        balance = billing.balance(self.session, self.account)
        zero = Money.zero(self.currency)
        if live.status is Status.TRIALING:
            assert live.trial_end is not None
            quote = Quote(zero, zero, zero, zero, balance, None, erased)
            quote.next_invoice = NextInvoice(live.trial_end, self._net(state, balance))
            if dry_run:
                return Outcome(quote, None)
            end_subscription(self.repo, live, self.now, EndReason.CYCLE_CHANGE)
            record_erasure(self.session, self.account.id, self.now, erased)
            self.session.flush()
            subscription = self._create(
                plan,
                cycle,
                cameras,
                price,
                Status.TRIALING,
                self.now,
                live.trial_end,
                live.trial_end,
            )
            return Outcome(quote, subscription)
        old = self._state(live)
        unused = [unused_line(old, live.current_period_start, live.current_period_end, self.now)]
        start, end = self.now, period_start(self.now, cycle, 1)
        lines = [LineDraft(f"{state.describe()}, {cycle.value}", state.period_value, start, end)]
        by_goodwill = self._goodwill_share(live, unused)
        if dry_run:
            cancelled = billing.plan_cancel(
                self.session,
                self.account,
                unused,
                refund_balance=False,
                paid_by_goodwill=by_goodwill,
            )
        else:
            cancelled = billing.refund_on_cancel(
                self.session,
                self.now,
                self.account,
                subscription_id=live.id,
                unused_lines=unused,
                refund_balance=False,
                paid_by_goodwill=by_goodwill,
            )
        settlement = settle(total(lines, self.currency), cancelled.balance_after)
        quote = Quote(
            charge_now=settlement.charge_card,
            refund_now=cancelled.refund_total,
            credit_added=cancelled.credit_rest,
            credit_used=settlement.credit_used,
            balance_after=settlement.balance_after,
            next_invoice=NextInvoice(end, self._net(state, settlement.balance_after)),
            erased=erased,
        )
        if dry_run:
            return Outcome(quote, None)
        end_subscription(self.repo, live, self.now, EndReason.CYCLE_CHANGE)
        record_erasure(self.session, self.account.id, self.now, erased)
        self.session.flush()
        subscription = self._create(plan, cycle, cameras, price, Status.ACTIVE, start, end, None)
        billing.issue_invoice(
            self.session,
            self.payer,
            self.now,
            self.account,
            subscription_id=subscription.id,
            lines=lines,
            pays=Pays.purchase(subscription.id),
        )
        return Outcome(quote, subscription)

    def cancel(self, *, dry_run: bool = False) -> Outcome:
        """C1: ends now; prorated refund of the unused part plus the balance (M9); a trial
        charges and refunds nothing of its own (T3) but the balance still goes back (M9);
        past_due refunds nothing for the period (M5)."""
        live = self.live()
        cameras = self._owned_cameras(live.camera_ids, allow_empty=True)
        erased = self._erasures(cameras, {camera.id: None for camera in cameras})
        zero = Money.zero(self.currency)
        # A trial was never paid (T3) and a past_due period neither (M5): only the balance
        # goes back (M9).
        unused = []
        if live.status is Status.ACTIVE:
            state = self._state(live)
            unused = [
                unused_line(state, live.current_period_start, live.current_period_end, self.now)
            ]
        by_goodwill = self._goodwill_share(live, unused)
        if dry_run:
            outcome = billing.plan_cancel(
                self.session, self.account, unused, paid_by_goodwill=by_goodwill
            )
        else:
            # M5, C1: cancelling while past_due voids the open invoice (its number is kept).
            _, ended = end_paid_coverage(
                self.session,
                self.catalog,
                self.now,
                self.account,
                plan_id=live.id,
                cameras=cameras,
                end=lambda: self._end(live, EndReason.CANCELLED),
                refund=unused,
                paid_by_goodwill=by_goodwill,
                erased=erased,
            )
            assert ended is not None
            outcome = ended
        quote = Quote(
            charge_now=zero,
            refund_now=outcome.refund_total,
            credit_added=outcome.credit_rest,
            credit_used=zero,
            balance_after=outcome.balance_after,
            next_invoice=None,
            erased=erased,
        )
        return Outcome(quote, None)

    # ---- steps -------------------------------------------------------------------------

    def _start_trial(
        self,
        plan: Plan,
        cycle: Cycle,
        cameras: list[Camera],
        state: SeatState,
        balance: Money,
        dry_run: bool,
    ) -> Outcome:
        """T1, T4: once per account, card on file, full entitlement, no money until its end."""
        if self.account.trial_started_at is not None:
            raise TrialAlreadyUsed("Each Kasa account can start one free trial, once")
        require_payment_method(self.session, self.account)
        trial_end = self.now + timedelta(days=self.catalog.trial_days)
        quote = Quote.nothing(balance)
        quote.next_invoice = NextInvoice(trial_end, self._net(state, balance))
        if dry_run:
            return Outcome(quote, None)
        self.account.trial_started_at = self.now
        subscription = self._create(
            plan, cycle, cameras, state.unit_price, Status.TRIALING, self.now, trial_end, trial_end
        )
        return Outcome(quote, subscription)

    def _change_to(
        self,
        live: Subscription,
        plan_id: PlanId,
        camera_ids: Sequence[uuid.UUID],
        dry_run: bool,
    ) -> Outcome:
        """C2, C3: from the live state to a new plan and camera set in the same period."""
        plan = self.catalog.plans[plan_id]
        cameras = self._owned_cameras(camera_ids)
        self._check_limit(plan, len(cameras))
        self._check_uncovered(cameras, live.id)
        old = self._state(live)
        # A new type is valued at the catalog price now; the same type as invoiced.
        unit = old.unit_price if plan.id == live.plan else self._price(plan, live.cycle)
        new = SeatState(plan, len(cameras), unit)
        removed = [cid for cid in live.camera_ids if cid not in {c.id for c in cameras}]
        removed_cameras = self._owned_cameras(removed, allow_empty=True)
        erased = self._erasures(removed_cameras, {cid: None for cid in removed})
        balance = billing.balance(self.session, self.account)
        zero = Money.zero(self.currency)
        lines: list[LineDraft] = []
        if live.status is not Status.TRIALING and old.period_value != new.period_value:
            lines = change_lines(
                old, new, live.current_period_start, live.current_period_end, self.now
            )
        net = total(lines, self.currency)
        settlement = settle(net, balance)
        quote = Quote(
            charge_now=settlement.charge_card,
            refund_now=zero,
            credit_added=settlement.credit_added,
            credit_used=settlement.credit_used,
            balance_after=settlement.balance_after,
            next_invoice=NextInvoice(
                live.current_period_end,
                self._net(self._catalog_state(new, live.cycle), settlement.balance_after),
            ),
            erased=erased,
        )
        if dry_run:
            return Outcome(quote, None)
        if lines and net.amount >= 0:
            billing.issue_invoice(
                self.session,
                self.payer,
                self.now,
                self.account,
                subscription_id=live.id,
                lines=lines,
                pays=Pays.purchase(live.id),
            )
        elif lines:
            credited = [
                LineDraft(line.description, -line.amount, line.period_start, line.period_end)
                for line in lines
            ]
            billing.issue_credit(
                self.session,
                self.now,
                self.account,
                subscription_id=live.id,
                lines=credited,
                goodwill=self._goodwill_share(live, credited),
            )
        record_erasure(self.session, self.account.id, self.now, erased)
        live.plan = plan_id
        live.unit_price = unit.amount
        self.repo.remove_seats(live.id, removed, self.now)
        for camera in cameras:
            if camera.id not in live.camera_ids:
                self.repo.add_seat(live.id, camera.id, self.now)
        return Outcome(quote, self.repo.refresh_seats(live))

    def _create(
        self,
        plan: Plan,
        cycle: Cycle,
        cameras: list[Camera],
        price: Money,
        status: Status,
        start: datetime,
        end: datetime,
        trial_end: datetime | None,
    ) -> Subscription:
        subscription = self.repo.add(
            Subscription(
                id=uuid.uuid4(),
                account_id=self.account.id,
                plan=PlanId(plan.id),
                cycle=cycle,
                status=status,
                currency=self.currency,
                unit_price=price.amount,
                anchor=end if trial_end is not None else start,
                trial_end=trial_end,
                current_period_start=start,
                current_period_end=end,
                created_at=self.now,
                ended_at=None,
                end_reason=None,
                dunning_since=None,
                retries_done=0,
                next_retry_at=None,
            )
        )
        schedule_subscription(subscription)
        for camera in cameras:
            self.repo.add_seat(subscription.id, camera.id, self.now)
        return self.repo.refresh_seats(subscription)

    def _end(self, live: Subscription, reason: EndReason) -> None:
        end_subscription(self.repo, live, self.now, reason)

    # ---- checks and values -------------------------------------------------------------

    def _changeable(self, live: Subscription | None = None) -> Subscription:
        live = live or self.live()
        if live.status is Status.PAST_DUE:
            raise SubscriptionPastDue(
                "Update the card on file to pay the open invoice; cancelling is still possible"
            )
        return live

    def _plan(self, plan_id: str) -> Plan:
        plan = self.catalog.plans.get(plan_id)
        if plan is None:
            raise ValidationFailed(
                f"{plan_id!r} is not a Kasa Care plan",
                field="plan",
                plans=sorted(self.catalog.plans),
            )
        return plan

    def _price(self, plan: Plan, cycle: Cycle) -> Money:
        price = plan.price(self.currency, cycle)
        if price is None:
            raise ValidationFailed(f"{plan.name} is not sold in {self.currency}", field="plan")
        return price

    def _state(self, live: Subscription) -> SeatState:
        plan = self.catalog.plans[live.plan]
        return SeatState(plan, len(live.seats), Money(live.unit_price, live.currency))

    def _catalog_state(self, state: SeatState, cycle: Cycle) -> SeatState:
        return SeatState(state.plan, state.seats, self._price(state.plan, cycle))

    def _net(self, state: SeatState, balance: Money) -> Money:
        value = state.period_value
        return value - value.min(balance) if balance.amount > 0 else value

    def _check_limit(self, plan: Plan, count: int) -> None:
        if plan.max_cameras is not None and count > plan.max_cameras:
            raise PremiumCameraLimit(
                f"{plan.name} covers at most {plan.max_cameras} cameras. For more, use another "
                "Kasa account for the others, or move every camera to Plus, which has no limit",
                max_cameras=plan.max_cameras,
            )

    def _owned_cameras(
        self, camera_ids: Sequence[uuid.UUID], *, allow_empty: bool = False
    ) -> list[Camera]:
        unique = list(dict.fromkeys(camera_ids))
        if not unique and not allow_empty:
            raise ValidationFailed("Choose at least one camera", field="camera_ids")
        if len(unique) != len(camera_ids):
            raise ValidationFailed("A camera is listed twice", field="camera_ids")
        found = {
            camera.id: camera
            for camera in self.session.scalars(
                select(Camera)
                .options(joinedload(Camera.device))
                .where(
                    Camera.id.in_(unique),
                    Camera.account_id == self.account.id,
                    Camera.unbound_at.is_(None),
                )
            )
        }
        missing = [cid for cid in unique if cid not in found]
        if missing:
            raise NotFound(f"No such camera: {missing[0]}")
        return [found[cid] for cid in unique]

    def _check_uncovered(self, cameras: list[Camera], own: uuid.UUID | None) -> None:
        """P4: a camera is covered by at most one paid plan, new or legacy."""
        ids = [c.id for c in cameras]
        for camera_id, subscription in self.repo.covering(ids):
            if subscription.id != own:
                raise CameraSubscribed(f"Camera {camera_id} is already covered by a subscription")
        for camera_id, _ in LegacyRepository(self.session).covering(ids):
            raise CameraSubscribed(f"Camera {camera_id} is covered by a legacy subscription")

    @_retaining
    def cancel_legacy(self, *, dry_run: bool = False) -> Outcome:
        """L4 (and its preview): end every legacy subscription with its prorated refund."""
        if not legacy.live_for(self.session, self.account):
            raise NotFound("No live legacy subscription")
        termination = legacy.terminate_all(
            self.session,
            self.catalog,
            self.now,
            self.account,
            LegacyEndReason.CANCELLED,
            dry_run=dry_run,
        )
        # M9: paid coverage ended: the balance goes back to the card payments.
        if dry_run:
            rest = billing.plan_cancel(self.session, self.account, [])
        else:
            rest = billing.refund_on_cancel(
                self.session, self.now, self.account, subscription_id=None, unused_lines=[]
            )
        quote = Quote.nothing(rest.balance_after)
        quote.refund_now = termination.refund_total(self.currency) + rest.refund_total
        quote.erased = termination.erased
        return Outcome(quote, None)

    def _goodwill_share(self, live: Subscription, lines: Sequence[LineDraft]) -> Money:
        """What goodwill credit paid of these unused-time lines of the current period."""
        return billing.goodwill_share(
            self.session,
            self.now,
            self.account,
            live.id,
            live.current_period_end,
            total(lines, self.currency),
        )

    def _erasures(
        self, cameras: list[Camera], after: dict[uuid.UUID, PaidCoverage | None]
    ) -> list[Erasure]:
        return erasures(self.session, self.catalog, self.now, cameras, after)


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


def trial_eligibility(account: Account) -> tuple[bool, str | None]:
    if account.trial_started_at is not None:
        return False, "trial_already_used"
    return True, None
