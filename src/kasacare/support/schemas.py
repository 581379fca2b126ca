"""Support request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from kasacare.legacy.schemas import MoneyIn
from kasacare.support.service import Outcome

Note = Annotated[str, Field(min_length=1, max_length=2000)]


class ResolveBody(BaseModel):
    outcome: Outcome
    amount: MoneyIn | None = None
    note: Note


class GoodwillCreditBody(BaseModel):
    amount: MoneyIn
    note: Note


class ForceUnbindBody(BaseModel):
    note: Note


class UnboundRead(BaseModel):
    camera_id: uuid.UUID
    account_id: uuid.UUID
    unbound_at: datetime


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
