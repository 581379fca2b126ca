"""The rows that hold failure counts (`kit.throttle`): one row per key, created on first
use and locked from the check to the commit, so parallel tries are counted one after
another against the count the previous ones left, in every process.

A domain declares its own table with `ThrottleRow` (sign-ins, claim codes): each keeps its
keys, its clean-up and its deletion rules.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TypeVar

from sqlalchemy import String, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from kasacare.kit.throttle import Count, after_failure, next_try_at


class ThrottleRow:
    """The columns of a throttle table (a mixin for a mapped class)."""

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[datetime | None]

    @property
    def count(self) -> Count:
        return Count(self.failures, self.last_failure_at)

    def fail(self, now: datetime) -> None:
        counted = after_failure(self.count, now)
        self.failures, self.last_failure_at = counted.failures, counted.last_failure_at


Row = TypeVar("Row", bound=ThrottleRow)


def lock_rows(session: Session, table: type[Row], keys: Collection[str]) -> dict[str, Row]:
    """The rows of `keys` (created when missing), locked until the commit, in key order so
    two tries sharing a key never deadlock."""
    ordered = sorted(set(keys))
    values = [{"key": key, "failures": 0, "last_failure_at": None} for key in ordered]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(table).values(values).on_conflict_do_nothing())
    locked = session.scalars(
        select(table)
        .where(table.key.in_(ordered))
        .order_by(table.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in locked}


def wait_until(rows: Mapping[str, Row], free: Mapping[str, int], now: datetime) -> datetime | None:
    """The latest instant any key's delay lets the next try through, or None if it may
    try now."""
    waits = [at for key, row in rows.items() if (at := next_try_at(row.count, free[key], now))]
    return max(waits, default=None)


def forget_rows(
    session: Session, table: type[ThrottleRow], quiet_since: datetime, keys: Collection[str] = ()
) -> None:
    """Delete `keys` and a small batch of rows with no failure since `quiet_since` (rows
    another try holds are skipped)."""
    stale = (
        select(table.key)
        .where((table.last_failure_at < quiet_since) | table.last_failure_at.is_(None))
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(table).where(table.key.in_(stale)))
    if keys:
        session.execute(delete(table).where(table.key.in_(keys)))
