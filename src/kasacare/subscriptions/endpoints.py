"""Subscription routes: subscribe, preview, change, cameras, auto-renew, cancel, trial."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from kasacare.accounts.dependencies import Owner
from kasacare.accounts.models import Account
from kasacare.billing.charging import Payer, Planning, run_charged
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.jobs import after_commit
from kasacare.kit.errors import ValidationFailed
from kasacare.kit.http import problem_responses
from kasacare.subscriptions.schemas import (
    AutoRenew,
    CameraAdd,
    CancelRead,
    PreviewAction,
    PreviewRequest,
    QuoteRead,
    SubscriptionChange,
    SubscriptionCreate,
    SubscriptionRead,
    TrialRead,
)
from kasacare.subscriptions.service import Outcome, Subscriptions, trial_eligibility
from kasacare.subscriptions.use_cases.cancel import plan_cancel, plan_cancel_legacy
from kasacare.subscriptions.use_cases.change import (
    plan_add_camera,
    plan_change,
    plan_remove_camera,
)
from kasacare.subscriptions.use_cases.scope import Scope
from kasacare.subscriptions.use_cases.subscribe import plan_subscribe

router = APIRouter(tags=["subscriptions"])
T = TypeVar("T")
CHANGES = problem_responses(401, 402, 403, 404, 409, 422)


def _use_cases(
    context: AppContext, session: Session, now: datetime, owner: Account, payer: Payer
) -> Subscriptions:
    return Subscriptions(session, context.catalog, payer, now, owner)


def _read(use_cases: Subscriptions, outcome: Outcome) -> SubscriptionRead:
    assert outcome.subscription is not None
    return SubscriptionRead.of(
        outcome.subscription,
        use_cases.next_invoice(outcome.subscription, outcome.quote.balance_after),
        outcome.quote,
    )


def _change(
    context: AppContext,
    session: Session,
    now: datetime,
    owner: Account,
    use_case: Callable[[Subscriptions], T],
) -> T:
    """Run one owner use case so that its card charge can never be lost
    (`billing.charging.run_charged`), commit it, then carry out what follows the commit."""
    result = run_charged(
        session,
        context.gateway,
        now,
        lambda s, payer: use_case(_use_cases(context, s, now, owner, payer)),
    )
    session.commit()
    after_commit(context, now)
    return result


@router.get(
    "/v1/subscription", response_model=SubscriptionRead, responses=problem_responses(401, 403, 404)
)
def get_subscription(
    owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    use_cases = Subscriptions.reading(session, context.catalog, now, owner)
    live = use_cases.live()
    return SubscriptionRead.of(live, use_cases.next_invoice(live))


@router.post(
    "/v1/subscription",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionRead,
    responses=CHANGES,
)
def subscribe(
    body: SubscriptionCreate, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    return _change(
        context,
        session,
        now,
        owner,
        lambda use_cases: _read(
            use_cases,
            use_cases.subscribe(
                body.plan,
                body.cycle,
                body.camera_ids,
                trial=body.trial,
                confirm_legacy_termination=body.confirm_legacy_termination,
            ),
        ),
    )


@router.post("/v1/subscription/change", response_model=SubscriptionRead, responses=CHANGES)
def change(
    body: SubscriptionChange, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    return _change(
        context,
        session,
        now,
        owner,
        lambda use_cases: _read(
            use_cases, use_cases.change(body.plan, body.cycle, body.camera_ids)
        ),
    )


@router.post("/v1/subscription/cameras", response_model=SubscriptionRead, responses=CHANGES)
def add_camera(
    body: CameraAdd, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    return _change(
        context,
        session,
        now,
        owner,
        lambda use_cases: _read(use_cases, use_cases.add_camera(body.camera_id)),
    )


@router.delete(
    "/v1/subscription/cameras/{camera_id}",
    response_model=SubscriptionRead | CancelRead,
    responses=CHANGES,
)
def remove_camera(
    camera_id: uuid.UUID, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead | CancelRead:
    """Remove a camera; removing the last one cancels the subscription (C3)."""

    def remove(use_cases: Subscriptions) -> SubscriptionRead | CancelRead:
        outcome = use_cases.remove_camera(camera_id)
        if outcome.subscription is not None:
            return _read(use_cases, outcome)
        return CancelRead(**QuoteRead.of(outcome.quote).model_dump())

    return _change(context, session, now, owner, remove)


@router.post("/v1/subscription/auto-renew", response_model=SubscriptionRead, responses=CHANGES)
def auto_renew(
    body: AutoRenew, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    """Turn renewal off: the plan runs to the end of its period and then ends, with no
    charge and no refund for the period (the credit balance is refunded then, M9); or on
    again before the end. The immediate cancel (`DELETE /v1/subscription`) is unchanged."""
    use_cases = Subscriptions(session, context.catalog, Planning(), now, owner)
    live = use_cases.set_auto_renew(body.enabled)
    read = SubscriptionRead.of(live, use_cases.next_invoice(live))
    session.commit()
    return read


@router.delete("/v1/subscription", response_model=CancelRead, responses=CHANGES)
def cancel(owner: Owner, context: Context, session: DbSession, now: Now) -> CancelRead:
    return _change(
        context,
        session,
        now,
        owner,
        lambda use_cases: CancelRead(**QuoteRead.of(use_cases.cancel().quote).model_dump()),
    )


@router.post("/v1/subscription/preview", response_model=QuoteRead, responses=CHANGES)
def preview(
    body: PreviewRequest, owner: Owner, context: Context, session: DbSession, now: Now
) -> QuoteRead:
    """The quote of an action (C5): the action's own plan, not applied; nothing changes."""
    scope = Scope.locked(session, context.catalog, now, owner)
    match body.action:
        case PreviewAction.CREATE:
            plan = plan_subscribe(
                scope,
                _required(body.plan, "plan"),
                _required(body.cycle, "cycle"),
                _required(body.camera_ids, "camera_ids"),
                trial=body.trial,
                confirm_legacy_termination=True,  # the preview of a migration shows its quote
            )
        case PreviewAction.CHANGE:
            plan = plan_change(
                scope,
                _required(body.plan, "plan"),
                _required(body.cycle, "cycle"),
                _required(body.camera_ids, "camera_ids"),
            )
        case PreviewAction.ADD_CAMERA:
            plan = plan_add_camera(scope, _required(body.camera_id, "camera_id"))
        case PreviewAction.REMOVE_CAMERA:
            plan = plan_remove_camera(scope, _required(body.camera_id, "camera_id"))
        case PreviewAction.CANCEL:
            plan = plan_cancel(scope)
        case PreviewAction.CANCEL_LEGACY:
            plan = plan_cancel_legacy(scope)
    session.rollback()
    return QuoteRead.of(plan.quote)


def _required(value: T | None, field: str) -> T:
    if value is None:
        raise ValidationFailed(f"{field} is required for this action", field=field)
    return value


@router.get("/v1/trial", response_model=TrialRead, responses=problem_responses(401, 403))
def trial(owner: Owner) -> TrialRead:
    eligible, reason = trial_eligibility(owner)
    return TrialRead(eligible=eligible, reason=reason)
