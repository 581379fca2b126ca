"""`GET /v1/notifications`: the owner's outbox, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from kasacare.accounts.dependencies import Owner
from kasacare.context import DbSession
from kasacare.kit.http import problem_responses
from kasacare.notifications.models import Kind
from kasacare.notifications.service import for_account

router = APIRouter(tags=["notifications"])


class NotificationRead(BaseModel):
    id: uuid.UUID
    kind: Kind
    created_at: datetime
    data: dict[str, Any]


class NotificationList(BaseModel):
    items: list[NotificationRead]


@router.get(
    "/v1/notifications", response_model=NotificationList, responses=problem_responses(401, 403)
)
def list_notifications(owner: Owner, session: DbSession) -> NotificationList:
    return NotificationList(
        items=[
            NotificationRead(id=n.id, kind=n.kind, created_at=n.created_at, data=n.data)
            for n in for_account(session, owner.id)
        ]
    )
