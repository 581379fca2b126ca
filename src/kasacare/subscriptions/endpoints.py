"""Subscription routes: subscribe, preview, change, cameras, cancel, trial."""

from __future__ import annotations

import logging
import uuid
from typing import TypeVar

from fastapi import APIRouter, status

from kasacare.accounts.dependencies import Owner
from kasacare.billing.outbox import carry_out_refunds
from kasacare.clips.sweeper import sweep
from kasacare.kit.errors import ValidationFailed
from kasacare.kit.http import AppContext, Context, DbSession, Now, problem_responses
from kasacare.subscriptions.schemas import (
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

router = APIRouter(tags=["subscriptions"])
log = logging.getLogger("kasacare.subscriptions")
CHANGES = problem_responses(401, 402, 403, 404, 409, 422)


def _use_cases(context: AppContext, session: DbSession, now: Now, owner: Owner) -> Subscriptions:
    return Subscriptions(session, context.catalog, context.gateway, now, owner)


def _read(use_cases: Subscriptions, outcome: Outcome) -> SubscriptionRead:
    assert outcome.subscription is not None
    return SubscriptionRead.of(
        outcome.subscription,
        use_cases.next_invoice(outcome.subscription, outcome.quote.balance_after),
        outcome.quote,
    )


def after_commit(context: AppContext, now: Now) -> None:
    """Refunds decided in the committed transaction are carried out now (M4 outbox). The
    change has happened whatever the gateway says: a failure here is logged and the outbox
    job carries the refund out later, so the owner still gets the change's answer."""
    try:
        carry_out_refunds(context.sessions, context.gateway, now)
    except Exception:
        log.exception("refund outbox failed after commit; the outbox job will retry it")
    try:  # V3: the bytes of clips the change erased go after the commit
        sweep(context.sessions, context.storage, context.catalog, now)
    except Exception:
        log.exception("clip sweep failed after commit; the sweeper will retry it")


@router.get(
    "/v1/subscription", response_model=SubscriptionRead, responses=problem_responses(401, 403, 404)
)
def get_subscription(
    owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    use_cases = _use_cases(context, session, now, owner)
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
    use_cases = _use_cases(context, session, now, owner)
    outcome = use_cases.subscribe(
        body.plan,
        body.cycle,
        body.camera_ids,
        trial=body.trial,
        confirm_legacy_termination=body.confirm_legacy_termination,
    )
    read = _read(use_cases, outcome)
    session.commit()
    after_commit(context, now)  # a migration refunds its legacy subscriptions (L3)
    return read


@router.post("/v1/subscription/change", response_model=SubscriptionRead, responses=CHANGES)
def change(
    body: SubscriptionChange, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    use_cases = _use_cases(context, session, now, owner)
    read = _read(use_cases, use_cases.change(body.plan, body.cycle, body.camera_ids))
    session.commit()
    after_commit(context, now)  # a cycle change refunds; a shorter window erases clips
    return read


@router.post("/v1/subscription/cameras", response_model=SubscriptionRead, responses=CHANGES)
def add_camera(
    body: CameraAdd, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead:
    use_cases = _use_cases(context, session, now, owner)
    read = _read(use_cases, use_cases.add_camera(body.camera_id))
    session.commit()
    return read


@router.delete(
    "/v1/subscription/cameras/{camera_id}",
    response_model=SubscriptionRead | CancelRead,
    responses=CHANGES,
)
def remove_camera(
    camera_id: uuid.UUID, owner: Owner, context: Context, session: DbSession, now: Now
) -> SubscriptionRead | CancelRead:
    """Remove a camera; removing the last one cancels the subscription (C3)."""
    use_cases = _use_cases(context, session, now, owner)
    outcome = use_cases.remove_camera(camera_id)
    read: SubscriptionRead | CancelRead = (
        _read(use_cases, outcome)
        if outcome.subscription is not None
        else CancelRead(**QuoteRead.of(outcome.quote).model_dump())
    )
    session.commit()
    after_commit(context, now)
    return read


@router.delete("/v1/subscription", response_model=CancelRead, responses=CHANGES)
def cancel(owner: Owner, context: Context, session: DbSession, now: Now) -> CancelRead:
    outcome = _use_cases(context, session, now, owner).cancel()
    session.commit()
    after_commit(context, now)
    return CancelRead(**QuoteRead.of(outcome.quote).model_dump())


@router.post("/v1/subscription/preview", response_model=QuoteRead, responses=CHANGES)
def preview(
    body: PreviewRequest, owner: Owner, context: Context, session: DbSession, now: Now
) -> QuoteRead:
    """The quote of an action (C5), computed by the action's own code; nothing changes."""
    use_cases = _use_cases(context, session, now, owner)
    match body.action:
        case PreviewAction.CREATE:
            outcome = use_cases.subscribe(
                _required(body.plan, "plan"),
                _required(body.cycle, "cycle"),
                _required(body.camera_ids, "camera_ids"),
                trial=body.trial,
                confirm_legacy_termination=True,  # the preview of a migration shows its quote
                dry_run=True,
            )
        case PreviewAction.CHANGE:
            outcome = use_cases.change(
                _required(body.plan, "plan"),
                _required(body.cycle, "cycle"),
                _required(body.camera_ids, "camera_ids"),
                dry_run=True,
            )
        case PreviewAction.ADD_CAMERA:
            outcome = use_cases.add_camera(_required(body.camera_id, "camera_id"), dry_run=True)
        case PreviewAction.REMOVE_CAMERA:
            outcome = use_cases.remove_camera(_required(body.camera_id, "camera_id"), dry_run=True)
        case PreviewAction.CANCEL:
            outcome = use_cases.cancel(dry_run=True)
        case PreviewAction.CANCEL_LEGACY:
            outcome = use_cases.cancel_legacy(dry_run=True)
    session.rollback()
    return QuoteRead.of(outcome.quote)


T = TypeVar("T")


def _required(value: T | None, field: str) -> T:
    if value is None:
        raise ValidationFailed(f"{field} is required for this action", field=field)
    return value


@router.get("/v1/trial", response_model=TrialRead, responses=problem_responses(401, 403))
def trial(owner: Owner) -> TrialRead:
    eligible, reason = trial_eligibility(owner)
    return TrialRead(eligible=eligible, reason=reason)
