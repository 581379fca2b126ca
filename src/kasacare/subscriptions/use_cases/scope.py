"""What every subscription use case reads and checks: one owner's account at one instant,
its live subscription, the catalog's plans and prices, the cameras a change names (owned,
within the plan's limit, covered by no other paid plan: P4), their erasures, and what a
state is worth net of credit. Reads only: nothing here writes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kasacare.accounts.models import Account
from kasacare.billing import addresses
from kasacare.billing import service as billing
from kasacare.billing.rules import LineDraft, total
from kasacare.billing.tax import TaxTreatment, gross_price
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog, Plan
from kasacare.entitlements.erasure import Erasure, erasures
from kasacare.entitlements.rules import PaidCoverage
from kasacare.kit.calendar import Cycle
from kasacare.kit.errors import NotFound, ValidationFailed
from kasacare.kit.money import Money
from kasacare.legacy.repository import LegacyRepository
from kasacare.subscriptions.errors import CameraSubscribed, PremiumCameraLimit, SubscriptionPastDue
from kasacare.subscriptions.models import Status, Subscription
from kasacare.subscriptions.quote import NextInvoice
from kasacare.subscriptions.repository import SubscriptionRepository
from kasacare.subscriptions.rules import SeatState, net_of_credit


@dataclass(frozen=True, slots=True)
class Scope:
    """One owner's account at one instant, as its use cases see it."""

    session: Session
    catalog: Catalog
    now: datetime
    account: Account

    @classmethod
    def locked(cls, session: Session, catalog: Catalog, now: datetime, account: Account) -> Scope:
        """Lock the account row: its billing use cases run one at a time (T1, P1, P2)."""
        return cls(session, catalog, now, SubscriptionRepository(session).lock_account(account.id))

    @property
    def repo(self) -> SubscriptionRepository:
        return SubscriptionRepository(self.session)

    @property
    def currency(self) -> str:
        return billing.currency_of(self.account)

    @property
    def zero(self) -> Money:
        return Money.zero(self.currency)

    def balance(self) -> Money:
        return billing.balance(self.session, self.account)

    # ---- the live subscription -------------------------------------------------------

    def live(self) -> Subscription:
        subscription = self.repo.live(self.account.id)
        if subscription is None:
            raise NotFound("No live Kasa Care subscription")
        return subscription

    def changeable(self, live: Subscription | None = None) -> Subscription:
        live = live or self.live()
        if live.status is Status.PAST_DUE:
            raise SubscriptionPastDue(
                "Update the card on file to pay the open invoice; cancelling is still possible"
            )
        return live

    def next_invoice(
        self, subscription: Subscription, balance: Money | None = None
    ) -> NextInvoice | None:
        """The next renewal: date and amount at catalog prices, net of credit (P5); None
        when auto-renew is off (the plan ends instead)."""
        if not subscription.auto_renew:
            return None
        plan = self.catalog.plans[subscription.plan]
        value = SeatState(plan, len(subscription.seats), self.price(plan, subscription.cycle))
        return NextInvoice(
            subscription.current_period_end,
            net_of_credit(value, balance if balance is not None else self.balance()),
        )

    # ---- plans and prices ------------------------------------------------------------

    def plan(self, plan_id: str) -> Plan:
        plan = self.catalog.plans.get(plan_id)
        if plan is None:
            raise ValidationFailed(
                f"{plan_id!r} is not a Kasa Care plan",
                field="plan",
                plans=sorted(self.catalog.plans),
            )
        return plan

    def price(self, plan: Plan, cycle: Cycle, tax: TaxTreatment | None = None) -> Money:
        """The full-period (seat) price charged: the catalog price under `tax` (the
        account's tax now by default): tax added in exclusive countries (issue 14)."""
        price = plan.price(self.currency, cycle)
        if price is None:
            raise ValidationFailed(f"{plan.name} is not sold in {self.currency}", field="plan")
        return gross_price(price, tax or self.tax())

    # ---- tax -----------------------------------------------------------------------------

    def tax(self) -> TaxTreatment:
        """The tax of a document issued now: the billing address's."""
        return addresses.treatment(self.session, self.catalog, self.account)

    def period_tax(self, live: Subscription) -> TaxTreatment:
        """The tax the live period was invoiced at: its changes and refunds split at it."""
        if live.tax is None:
            return self.tax()
        return TaxTreatment.from_json(live.tax)

    def state(self, live: Subscription) -> SeatState:
        """The live subscription's state at the unit price it was invoiced at."""
        plan = self.catalog.plans[live.plan]
        return SeatState(plan, len(live.seats), Money(live.unit_price, live.currency))

    def catalog_state(self, state: SeatState, cycle: Cycle) -> SeatState:
        return SeatState(state.plan, state.seats, self.price(state.plan, cycle))

    # ---- cameras -----------------------------------------------------------------------

    def owned_cameras(
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

    def check_limit(self, plan: Plan, count: int) -> None:
        if plan.max_cameras is not None and count > plan.max_cameras:
            raise PremiumCameraLimit(
                f"{plan.name} covers at most {plan.max_cameras} cameras. For more, use another "
                "Kasa account for the others, or move every camera to Plus, which has no limit",
                max_cameras=plan.max_cameras,
            )

    def check_uncovered(self, cameras: list[Camera], own: uuid.UUID | None) -> None:
        """P4: a camera is covered by at most one paid plan, new or legacy."""
        ids = [c.id for c in cameras]
        for camera_id, subscription in self.repo.covering(ids):
            if subscription.id != own:
                raise CameraSubscribed(f"Camera {camera_id} is already covered by a subscription")
        for camera_id, _ in LegacyRepository(self.session).covering(ids):
            raise CameraSubscribed(f"Camera {camera_id} is covered by a legacy subscription")

    def erasures(
        self, cameras: list[Camera], after: dict[uuid.UUID, PaidCoverage | None]
    ) -> list[Erasure]:
        return erasures(self.session, self.catalog, self.now, cameras, after)

    # ---- money -------------------------------------------------------------------------

    def goodwill_share(self, live: Subscription, lines: Sequence[LineDraft]) -> Money:
        """What goodwill credit paid of these unused-time lines of the current period."""
        return billing.goodwill_share(
            self.session,
            self.now,
            self.account,
            live.id,
            live.current_period_end,
            total(lines, self.currency),
        )
