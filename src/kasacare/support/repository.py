"""Every support query: the audit log, the agents' names, the console's search."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account, Role
from kasacare.cameras.models import Camera, Device
from kasacare.support.models import AuditEntry

#: The most accounts one search lists.
SEARCH_LIMIT = 20


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

    def emails(self, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = self.session.execute(
            select(Account.id, Account.email).where(Account.id.in_(account_ids))
        )
        return {account_id: email for account_id, email in rows}

    def owners_by_email_prefix(self, prefix: str) -> list[Account]:
        """Owners whose (lowercase) address starts with `prefix`, `%` and `_` taken literally."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return list(
            self.session.scalars(
                select(Account)
                .where(Account.role == Role.OWNER, Account.email.like(f"{escaped}%", escape="\\"))
                .order_by(Account.email)
                .limit(SEARCH_LIMIT)
            )
        )

    def owners_by_serial(self, serial: str) -> list[Account]:
        """The owner a camera with this serial is bound to now."""
        return list(
            self.session.scalars(
                select(Account)
                .join(Camera, Camera.account_id == Account.id)
                .join(Device, Device.id == Camera.device_id)
                .where(Device.serial == serial, Camera.unbound_at.is_(None))
            )
        )


__all__ = ["AuditRepository"]
