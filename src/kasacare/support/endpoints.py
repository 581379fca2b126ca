"""Support routes: resolve a legacy case (L6) and read the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from kasacare.accounts.dependencies import OperatorOrSupport
from kasacare.cameras.models import Camera
from kasacare.clips import service as clips
from kasacare.clips.schemas import ClipEntry, ClipPage
from kasacare.kit.errors import NotFound
from kasacare.kit.http import Context, DbSession, Now, problem_responses
from kasacare.legacy.schemas import LegacyRead, MoneyIn
from kasacare.subscriptions.endpoints import after_commit
from kasacare.support import service
from kasacare.support.service import Outcome

router = APIRouter(tags=["support"])


class ResolveBody(BaseModel):
    outcome: Outcome
    amount: MoneyIn | None = None
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class AuditEntryRead(BaseModel):
    id: uuid.UUID
    at: datetime
    actor: str
    action: str
    account_id: uuid.UUID | None
    target: str | None
    note: str
    data: dict[str, Any]


class AuditLog(BaseModel):
    items: list[AuditEntryRead]


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
