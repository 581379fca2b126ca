"""Every support query: the audit log."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.support.models import AuditEntry


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, entry: AuditEntry) -> None:
        self.session.add(entry)

    def latest(self, *, account_id: uuid.UUID | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first; one account's entries with `account_id`."""
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id).limit(limit)
        if account_id is not None:
            query = query.where(AuditEntry.account_id == account_id)
        return list(self.session.scalars(query))


__all__ = ["AuditRepository"]
