"""`GET /v1/notifications`: the owner's outbox, newest first, each `read` or not;
`POST /v1/notifications/read` marks them read (issue 14 item 3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel

from kasacare.accounts.dependencies import Owner
from kasacare.context import DbSession, Now
from kasacare.kit.http import problem_responses
from kasacare.notifications.models import Kind
from kasacare.notifications.service import for_account, mark_read, unread_count

router = APIRouter(tags=["notifications"])


class NotificationRead(BaseModel):
    id: uuid.UUID
    kind: Kind
    created_at: datetime
    read: bool
    data: dict[str, Any]


class NotificationList(BaseModel):
    items: list[NotificationRead]
    unread: int


class MarkRead(BaseModel):
    """Which notifications to mark read: these ids, or (none given) all of them."""

    ids: list[uuid.UUID] | None = None


class Marked(BaseModel):
    marked: int
    unread: int


@router.get(
    "/v1/notifications", response_model=NotificationList, responses=problem_responses(401, 403)
)
def list_notifications(owner: Owner, session: DbSession) -> NotificationList:
    items = [
        NotificationRead(
            id=n.id, kind=n.kind, created_at=n.created_at, read=n.read_at is not None, data=n.data
        )
        for n in for_account(session, owner.id)
    ]
    return NotificationList(items=items, unread=sum(not item.read for item in items))


@router.post(
    "/v1/notifications/read",
    response_model=Marked,
    responses=problem_responses(401, 403, 422),
)
def read_notifications(
    owner: Owner, session: DbSession, now: Now, body: Annotated[MarkRead | None, Body()] = None
) -> Marked:
    """Mark notifications read: the ids given (another account's ids change nothing), or
    every unread one."""
    marked = mark_read(session, owner.id, now, body.ids if body is not None else None)
    unread = unread_count(session, owner.id)
    session.commit()
    return Marked(marked=marked, unread=unread)
