"""The subscription use cases of one owner's account at one instant: subscribe (with or
without trial, and the legacy migration of L3), add and remove a camera, change plan,
cameras or cycle, cancel, cancel legacy.

Each is a plan, then its apply (`subscriptions.use_cases`): the plan reads the state under
the account's lock and answers the quote and the effects; `apply` carries the effects out.
A preview is the plan alone. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing.charging import Payer, Planning
from kasacare.catalog.schemas import Catalog
from kasacare.kit.calendar import Cycle
from kasacare.kit.money import Money
from kasacare.notifications.reminders import schedule_subscription
from kasacare.subscriptions.errors import SubscriptionPastDue
from kasacare.subscriptions.models import Status, Subscription
from kasacare.subscriptions.quote import NextInvoice
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.use_cases.apply import Outcome, apply, end_subscription
from kasacare.subscriptions.use_cases.cancel import plan_cancel, plan_cancel_legacy
from kasacare.subscriptions.use_cases.change import (
    plan_add_camera,
    plan_change,
    plan_remove_camera,
)
from kasacare.subscriptions.use_cases.plan import BillingPlan
from kasacare.subscriptions.use_cases.scope import Scope
from kasacare.subscriptions.use_cases.subscribe import plan_subscribe

__all__ = ["Outcome", "Subscriptions", "end_subscription", "trial_eligibility"]


class Subscriptions:
    """Each use case planned then applied, through `payer` (`billing.charging`)."""

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
        # Reads (`reading`) take no lock: a page or GET never waits for a change.
        self.scope = (
            Scope.locked(session, catalog, now, account)
            if lock
            else Scope(session, catalog, now, account)
        )
        self.payer = payer

    @classmethod
    def reading(
        cls, session: Session, catalog: Catalog, now: datetime, account: Account
    ) -> Subscriptions:
        """For reads only (`live`, `next_invoice`): no lock, no payer."""
        return cls(session, catalog, Planning(), now, account, lock=False)

    @property
    def repo(self) -> SubscriptionRepository:
        return self.scope.repo

    def live(self) -> Subscription:
        return self.scope.live()

    def next_invoice(
        self, subscription: Subscription, balance: Money | None = None
    ) -> NextInvoice | None:
        return self.scope.next_invoice(subscription, balance)

    def apply(self, plan: BillingPlan) -> Outcome:
        return apply(self.scope, self.payer, plan)

    def subscribe(
        self,
        plan_id: str,
        cycle: Cycle,
        camera_ids: Sequence[uuid.UUID],
        *,
        trial: bool,
        confirm_legacy_termination: bool = False,
    ) -> Outcome:
        return self.apply(
            plan_subscribe(
                self.scope,
                plan_id,
                cycle,
                camera_ids,
                trial=trial,
                confirm_legacy_termination=confirm_legacy_termination,
            )
        )

    def add_camera(self, camera_id: uuid.UUID) -> Outcome:
        return self.apply(plan_add_camera(self.scope, camera_id))

    def remove_camera(self, camera_id: uuid.UUID) -> Outcome:
        return self.apply(plan_remove_camera(self.scope, camera_id))

    def change(self, plan_id: str, cycle: Cycle, camera_ids: Sequence[uuid.UUID]) -> Outcome:
        return self.apply(plan_change(self.scope, plan_id, cycle, camera_ids))

    def set_auto_renew(self, enabled: bool) -> Subscription:
        """Turn renewal off (the plan runs to its period's end, then ends with no charge and
        no refund for the period; the balance is refunded then, M9) or on again before the
        end (issue 14 item 5). The FAQ's immediate cancel (C1) stays as it is. A past-due
        plan is refused: it has no paid period to run to (cancel it, or pay)."""
        live = self.live()
        if live.status is Status.PAST_DUE:
            raise SubscriptionPastDue(
                "The subscription has an unpaid invoice: update the card, or cancel it"
            )
        live.auto_renew = enabled
        schedule_subscription(live)
        return live

    def cancel(self) -> Outcome:
        return self.apply(plan_cancel(self.scope))

    def cancel_legacy(self) -> Outcome:
        return self.apply(plan_cancel_legacy(self.scope))


def trial_eligibility(account: Account) -> tuple[bool, str | None]:
    if account.trial_started_at is not None:
        return False, "trial_already_used"
    return True, None
