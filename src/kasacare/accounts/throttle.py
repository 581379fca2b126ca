"""Sign-in throttling (issue 13, hardening; replaces SPEC section 4's hard limit).

Failures are counted per email and per client (`kit.clients`) with the growing delay of
`kit.throttle`: a success clears the email's count.
"""

from __future__ import annotations

import hashlib

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
    "MAX_DELAY",
    "Count",
    "after_failure",
    "client_key",
    "delay",
    "email_key",
    "live_failures",
    "next_try_at",
]

FREE_PER_EMAIL = 5
FREE_PER_CLIENT = 20


def email_key(email: str) -> str:
    """An address is counted by its SHA-256, so no throttle row names anyone (a deleted
    account's address may be tried after it is gone)."""
    return f"email:{hashlib.sha256(email.encode()).hexdigest()}"


def client_key(client: str) -> str:
    return f"client:{client}"
