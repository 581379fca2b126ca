"""The injected clock. Domain code takes `now` as a parameter; only the edge asks a clock.

- `SystemClock`: the real time, for production.
- `FixedClock`: a time that moves only when told, for in-process tests.
- `DatabaseTestClock`: the test clock of `KASACARE_TEST_CLOCK=1`, whose current time lives in
  one database row, so every process of a deployment agrees on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, select, update

from kasacare.kit.calendar import require_utc
from kasacare.kit.db import READ_ONLY, TestClockRow


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    def __init__(self, start: datetime) -> None:
        self._now = require_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = require_utc(moment)

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


class DatabaseTestClock:
    """Reads and moves the single `test_clock` row (created by the first migration)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def now(self) -> datetime:
        with self._engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            return connection.execute(
                select(TestClockRow.now).where(TestClockRow.id == 1)
            ).scalar_one()

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta`, atomically, and return the new time."""
        with self._engine.begin() as connection:
            current = connection.execute(
                select(TestClockRow.now).where(TestClockRow.id == 1).with_for_update()
            ).scalar_one()
            moved = current + delta
            connection.execute(update(TestClockRow).where(TestClockRow.id == 1).values(now=moved))
        return moved
