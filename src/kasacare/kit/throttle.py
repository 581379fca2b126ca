"""Failure throttling, pure: a growing delay after a few free failures instead of a hard
lock-out (sign-ins in `accounts.throttle`, claim codes in `cameras.claims`).

Failures are counted per key. The first `free` are free; after them each further try must
wait a delay that doubles with every failure, up to a cap: a guesser gets a handful of tries
an hour while the rightful caller waits at most `MAX_DELAY`. A key with no failure for
`FORGET_AFTER` starts afresh. The rows that hold the counts: `kit.throttle_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Count:
    """A key's failures and the last one's instant."""

    failures: int
    last_failure_at: datetime | None


def live_failures(count: Count, now: datetime) -> int:
    """The failures that still count: none once the last is `FORGET_AFTER` old."""
    if count.last_failure_at is None or now - count.last_failure_at >= FORGET_AFTER:
        return 0
    return count.failures


def delay(failures: int, free: int) -> timedelta:
    """How long after the last failure the next try must wait: nothing while failures are
    free, then `FIRST_DELAY` doubling per failure, at most `MAX_DELAY`."""
    if failures < free:
        return timedelta(0)
    doublings = min(failures - free, 16)  # 30 s x 2^16 is far past the cap
    grown: timedelta = FIRST_DELAY * 2**doublings
    return min(grown, MAX_DELAY)


def next_try_at(count: Count, free: int, now: datetime) -> datetime | None:
    """When the next try is allowed, or None if it is allowed now."""
    failures = live_failures(count, now)
    if count.last_failure_at is None or failures < free:
        return None
    allowed = count.last_failure_at + delay(failures, free)
    return allowed if allowed > now else None


def after_failure(count: Count, now: datetime) -> Count:
    return Count(live_failures(count, now) + 1, now)
