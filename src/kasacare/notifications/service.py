"""Write and read notifications. Use cases call `notify` inside their own transaction, so a
notification exists exactly when what it tells of was committed."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
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


def unread_count(session: Session, account_id: uuid.UUID) -> int:
    """How many of the account's notifications the owner has not seen (issue 14 item 3)."""
    found = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.account_id == account_id, Notification.read_at.is_(None))
    )
    return int(found or 0)


def mark_read(
    session: Session,
    account_id: uuid.UUID,
    now: datetime,
    ids: Collection[uuid.UUID] | None = None,
) -> int:
    """Mark the account's unread notifications read (only those of `ids` when given;
    another account's ids match nothing). Returns how many changed."""
    query = update(Notification).where(
        Notification.account_id == account_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    result = session.execute(query.values(read_at=now).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
