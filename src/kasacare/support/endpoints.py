"""Support routes: resolve a legacy case (L6) and read the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from kasacare.accounts.dependencies import OperatorOrSupport
from kasacare.billing.schemas import CreditNoteRead
from kasacare.cameras.models import Camera
from kasacare.clips import service as clips
from kasacare.clips.schemas import ClipEntry, ClipPage
from kasacare.context import Context, DbSession, Now
from kasacare.jobs import after_commit
from kasacare.kit.errors import NotFound
from kasacare.kit.http import problem_responses
from kasacare.legacy.schemas import LegacyRead
from kasacare.support import service
from kasacare.support.policy import goodwill_cap_years
from kasacare.support.schemas import (
    AuditEntryRead,
    AuditLog,
    ForceUnbindBody,
    GoodwillCreditBody,
    ResolveBody,
    UnboundRead,
)

router = APIRouter(tags=["support"])


@router.post(
    "/v1/support/legacy-subscriptions/{legacy_id}/resolve",
    response_model=LegacyRead,
    responses=problem_responses(401, 402, 403, 404),
)
def resolve_legacy(
    legacy_id: uuid.UUID,
    body: ResolveBody,
    actor: OperatorOrSupport,
    context: Context,
    session: DbSession,
    now: Now,
) -> LegacyRead:
    legacy = service.resolve_legacy(
        session,
        context.catalog,
        now,
        actor.label,
        legacy_id,
        body.outcome,
        body.amount.money() if body.amount else None,
        body.note,
    )
    read = LegacyRead.of(legacy)
    session.commit()
    after_commit(context, now)
    return read


@router.post(
    "/v1/support/accounts/{account_id}/goodwill-credits",
    status_code=201,
    response_model=CreditNoteRead,
    responses=problem_responses(401, 403, 404, 409),
)
def goodwill_credit(
    account_id: uuid.UUID,
    body: GoodwillCreditBody,
    actor: OperatorOrSupport,
    context: Context,
    session: DbSession,
    now: Now,
) -> CreditNoteRead:
    """A goodwill credit within the policy's cap (`KASACARE_GOODWILL_CAP_YEARS`, 409
    `goodwill_limit_exceeded` over it): it pays invoices only and is never refunded."""
    note = service.goodwill_credit(
        session,
        context.catalog,
        now,
        actor.label,
        account_id,
        body.amount.money(),
        body.note,
        cap_years=goodwill_cap_years(context.settings),
    )
    read = CreditNoteRead.of(note)
    session.commit()
    return read


@router.post(
    "/v1/support/cameras/{camera_id}/unbind",
    response_model=UnboundRead,
    responses=problem_responses(401, 403, 404, 409),
)
def force_unbind(
    camera_id: uuid.UUID,
    body: ForceUnbindBody,
    actor: OperatorOrSupport,
    context: Context,
    session: DbSession,
    now: Now,
) -> UnboundRead:
    """A resold camera off its account, its history erased; a camera a legacy plan covers
    answers 409 `camera_covered_by_legacy` (resolve the legacy case first)."""
    camera = service.force_unbind(session, context.catalog, now, actor.label, camera_id, body.note)
    assert camera.unbound_at is not None
    read = UnboundRead(
        camera_id=camera.id, account_id=camera.account_id, unbound_at=camera.unbound_at
    )
    session.commit()
    after_commit(context, now)
    return read


@router.get("/v1/admin/audit-log", response_model=AuditLog, responses=problem_responses(401, 403))
def audit_log(
    _actor: OperatorOrSupport,
    session: DbSession,
    account_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditLog:
    entries = service.audit_log(session, account_id=account_id, limit=limit)
    return AuditLog(
        items=[
            AuditEntryRead(
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                account_id=e.account_id,
                target=e.target,
                note=e.note,
                data=e.data,
            )
            for e in entries
        ]
    )


@router.get(
    "/v1/support/cameras/{camera_id}/clips",
    response_model=ClipPage,
    responses=problem_responses(401, 403, 404),
)
def camera_clip_entries(
    camera_id: uuid.UUID,
    _actor: OperatorOrSupport,
    session: DbSession,
    now: Now,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ClipPage:
    """V7: support agents see a camera's clip entries (times, kinds, availability), never
    video: no playback or download URL is ever issued here."""
    camera = session.scalar(
        select(Camera).where(Camera.id == camera_id, Camera.unbound_at.is_(None))
    )
    if camera is None:
        raise NotFound("No such camera")
    page = clips.list_clips(session, camera, now, start=None, end=None, cursor=cursor, limit=limit)
    return ClipPage(items=[ClipEntry.of(c, now) for c in page.clips], next_cursor=page.next_cursor)
