"""Write and read notifications. Use cases call `notify` inside their own transaction, so a
notification exists exactly when what it tells of was committed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.notifications.models import Kind, Notification


def notify(
    session: Session,
    account_id: uuid.UUID,
    kind: Kind,
    now: datetime,
    data: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> None:
    session.add(
        Notification(
            account_id=account_id,
            kind=kind,
            dedupe_key=dedupe_key,
            data=data,
            created_at=now,
            delivered_at=None,
        )
    )


def already_sent(session: Session, dedupe_key: str) -> bool:
    found = session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key))
    return found is not None


def for_account(session: Session, account_id: uuid.UUID) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.account_id == account_id)
            .order_by(Notification.created_at.desc(), Notification.id)
        )
    )
