"""Sign-in throttling, pure (issue 13, hardening; replaces SPEC section 4's hard limit).

Failures are counted per email and per client (`kit.clients`). The first few are free; after
them each further try must wait a delay that doubles with every failure, up to a cap, instead
of a hard lock-out: a guesser gets a handful of tries an hour while the owner, who knows the
password, waits at most `MAX_DELAY`. A success clears the email's count; a key with no
failure for `FORGET_AFTER` starts afresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

FREE_PER_EMAIL = 5
FREE_PER_CLIENT = 20
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Count:
    """A key's failures and the last one's instant."""

    failures: int
    last_failure_at: datetime | None


def email_key(email: str) -> str:
    """An address is counted by its SHA-256, so no throttle row names anyone (a deleted
    account's address may be tried after it is gone)."""
    return f"email:{hashlib.sha256(email.encode()).hexdigest()}"


def client_key(client: str) -> str:
    return f"client:{client}"


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
