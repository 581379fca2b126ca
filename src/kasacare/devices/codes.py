"""Claim codes and device secrets, pure (issue 12 item 1).

A provisioned camera asks for a claim code with its factory secret; the owner's app reads it
from the camera during setup and binds with it: possession of the camera is the proof.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum

#: No 0/O, 1/I/L: read off a screen or spoken without a mix-up.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8
VALID_FOR = timedelta(minutes=10)
#: The factory generates device secrets; this many characters of random text (at least
#: 128 bits) is what lets us keep them as a plain SHA-256 (see `secret_digest`).
SECRET_MIN_LENGTH = 32
#: Failed claims before the growing delay of `kit.throttle` starts, per serial and per
#: account: an account trying many serials is slowed as much as many accounts trying one.
FREE_PER_SERIAL = 5
FREE_PER_ACCOUNT = 10


class DeviceClaims(StrEnum):
    """`KASACARE_DEVICE_CLAIMS`: `required` (the default) or `off` (development only:
    any provisioned or unknown serial binds without a code, as before issue 12)."""

    REQUIRED = "required"
    OFF = "off"


def new_code() -> str:
    """8 characters of `ALPHABET`: 31^8 ≈ 8.5 x 10^11 codes, of which one is valid."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(code: str) -> str:
    """What the owner typed, as issued: upper case, without spaces or dashes."""
    return "".join(code.split()).replace("-", "").upper()


def code_digest(serial: str, code: str) -> str:
    """What a claim code is kept as. A plain SHA-256 (salted with the serial): a code lives
    10 minutes and is used once, so an argon2 cost per claim would buy nothing."""
    return hashlib.sha256(f"{serial}:{normalize(code)}".encode()).hexdigest()


def secret_digest(secret: str) -> str:
    """A device secret is kept as its SHA-256, like device tokens, not argon2: the factory
    makes it random (`SECRET_MIN_LENGTH`), so a slow hash would not make it harder to
    guess, while it would turn a bulk import of a production run (100,000 devices) into
    hours of hashing and every claim-code request into ~50 ms of CPU."""
    return hashlib.sha256(secret.encode()).hexdigest()


def serial_key(serial: str) -> str:
    return f"claim-serial:{serial}"


def account_key(account_id: object) -> str:
    return f"claim-account:{account_id}"
