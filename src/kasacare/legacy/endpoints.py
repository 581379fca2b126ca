"""Legacy routes: the owner's list and cancel-all, and the operator's import."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from kasacare.accounts.dependencies import Operator, Owner
from kasacare.billing.charging import Planning
from kasacare.context import Context, DbSession, Now
from kasacare.jobs import after_commit
from kasacare.kit.http import problem_responses
from kasacare.legacy import service
from kasacare.legacy.repository import LegacyRepository
from kasacare.legacy.schemas import LegacyExtendBody, LegacyImportBody, LegacyList, LegacyRead
from kasacare.subscriptions.schemas import CancelRead, QuoteRead
from kasacare.subscriptions.service import Subscriptions
from kasacare.support.service import audit

router = APIRouter(tags=["legacy"])


@router.get(
    "/v1/legacy-subscriptions", response_model=LegacyList, responses=problem_responses(401, 403)
)
def list_legacy(owner: Owner, session: DbSession) -> LegacyList:
    return LegacyList(items=[LegacyRead.of(x) for x in LegacyRepository(session).all_for(owner.id)])


@router.delete(
    "/v1/legacy-subscriptions",
    response_model=CancelRead,
    responses=problem_responses(401, 402, 403, 404, 409),
)
def cancel_legacy(owner: Owner, context: Context, session: DbSession, now: Now) -> CancelRead:
    """L4: end every legacy subscription, each with its prorated refund; one way (L5)."""
    outcome = Subscriptions(session, context.catalog, Planning(), now, owner).cancel_legacy()
    session.commit()
    after_commit(context, now)
    return CancelRead(**QuoteRead.of(outcome.quote).model_dump())


@router.post(
    "/v1/admin/legacy-subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=LegacyRead,
    responses=problem_responses(401, 403, 404, 409),
    tags=["admin"],
)
def import_legacy(
    body: LegacyImportBody, _operator: Operator, context: Context, session: DbSession, now: Now
) -> LegacyRead:
    legacy = service.import_legacy(
        session,
        context.catalog,
        now,
        body.account_id,
        service.LegacyImport(
            plan=body.plan,
            cycle=body.cycle,
            camera_ids=body.camera_ids,
            price=body.price.money(),
            paid=body.paid.money(),
            current_period_start=body.current_period_start,
            current_period_end=body.current_period_end,
            channel=body.channel,
        ),
    )
    audit(
        session,
        now,
        "operator",
        "legacy_import",
        account_id=body.account_id,
        target=str(legacy.id),
        note="imported",
        data={"plan": body.plan, "channel": body.channel},
    )
    read = LegacyRead.of(LegacyRepository(session).get(legacy.id) or legacy)
    session.commit()
    return read


@router.post(
    "/v1/admin/legacy-subscriptions/{legacy_id}/extend",
    response_model=LegacyRead,
    responses=problem_responses(401, 403, 404),
    tags=["admin"],
)
def extend_legacy(
    legacy_id: uuid.UUID,
    body: LegacyExtendBody,
    _operator: Operator,
    session: DbSession,
    now: Now,
) -> LegacyRead:
    """L6: an app-store subscription the store renewed runs one more period; without it,
    it ends at its period's end. 422 `invalid_period` unless the new end is one cycle after
    the current one and still ahead."""
    legacy = service.extend_app_store(session, now, legacy_id, body.current_period_end)
    audit(
        session,
        now,
        "operator",
        "legacy_extend",
        account_id=legacy.account_id,
        target=str(legacy.id),
        note="renewed by the store",
        data={"current_period_end": body.current_period_end.isoformat()},
    )
    read = LegacyRead.of(legacy)
    session.commit()
    return read
