"""Sign-in throttling (issue 13, hardening; replaces SPEC section 4's hard limit).

Failures are counted per email and per client (`kit.clients`) with the growing delay of
`kit.throttle`: a success clears the email's count. A password re-entered to confirm a
sensitive change (change the password or the email, delete the account) is counted the same
way per account (`reauth_key`), so a stolen session cannot guess it either.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import datetime

from kasacare.kit.errors import TooManyAttempts
from kasacare.kit.throttle import (
    FIRST_DELAY,
    FORGET_AFTER,
    MAX_DELAY,
    Count,
    after_failure,
    delay,
    live_failures,
    next_try_at,
)

__all__ = [
    "FIRST_DELAY",
    "FORGET_AFTER",
    "FREE_PER_CLIENT",
    "FREE_PER_EMAIL",
    "FREE_REAUTH",
    "MAX_DELAY",
    "Count",
    "after_failure",
    "client_key",
    "delay",
    "email_key",
    "live_failures",
    "next_try_at",
    "reauth_key",
    "wait_error",
]

FREE_PER_EMAIL = 5
FREE_PER_CLIENT = 20
FREE_REAUTH = 5


def email_key(email: str) -> str:
    """An address is counted by its SHA-256, so no throttle row names anyone (a deleted
    account's address may be tried after it is gone)."""
    return f"email:{hashlib.sha256(email.encode()).hexdigest()}"


def client_key(client: str) -> str:
    return f"client:{client}"


def reauth_key(account_id: uuid.UUID) -> str:
    return f"reauth:{account_id}"


def wait_error(allowed_at: datetime, now: datetime, what: str) -> TooManyAttempts:
    """429 with the whole seconds to wait (`Retry-After`)."""
    seconds = math.ceil((allowed_at - now).total_seconds())
    return TooManyAttempts(
        f"Too many {what}; try again in {seconds} seconds", retry_after_seconds=seconds
    )
