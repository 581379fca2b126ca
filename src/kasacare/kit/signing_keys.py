"""Signing keys (issue 13 item 4): every HMAC the service signs with (clip URLs, CSRF tokens)
uses a key derived from a master secret, `KASACARE_SECRET_KEY`, and names it by a key id, so
a master can be rotated without breaking what was signed a moment ago.

- Derivation: HKDF-SHA256 of the master with the use as `info` (`clip-urls`, `csrf`), so a
  key of one use never verifies another use's token and the master itself signs nothing.
- Key id: 8 hex characters, HKDF of the master with `info=key-id`: it tells which master
  signed a token and reveals nothing about it.
- Rotation: the current master signs; it and every previous master
  (`KASACARE_PREVIOUS_SECRET_KEYS`) verify, each by its id. Drop a previous master once what
  it signed has expired (clip URLs 5 minutes, CSRF tokens a session's lifetime).

Where the master comes from is `SigningKeys`' business: the configuration (required in
production), or in development and under the test clock a random one kept in the database
(`kit.secrets`), so `make run` needs no configuration.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: Shorter masters are refused: a guessable master makes every signature guessable.
MIN_MASTER_BYTES = 32
KEY_BYTES = 32
KEY_ID_LENGTH = 8
_INFO_PREFIX = b"kasacare/v1/"


def _hkdf(master: bytes, info: str, length: int) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=_INFO_PREFIX + info.encode()
    ).derive(master)


def key_id(master: bytes) -> str:
    """The public name of a master: which key signed a token."""
    return _hkdf(master, "key-id", KEY_ID_LENGTH // 2).hex()


@dataclass(frozen=True)
class Keyring:
    """The keys of one use: the first signs, every one verifies, each found by its id."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def derived(cls, use: str, masters: Sequence[bytes]) -> Keyring:
        if not masters:
            raise ValueError("a keyring needs at least one master")
        for master in masters:
            if len(master) < MIN_MASTER_BYTES:
                raise ValueError(f"a signing master must be at least {MIN_MASTER_BYTES} bytes")
        return cls(tuple((key_id(m), _hkdf(m, use, KEY_BYTES)) for m in masters))

    @property
    def signing(self) -> tuple[str, bytes]:
        """(key id, key) to sign with now."""
        return self.keys[0]

    def verifying(self, kid: str) -> bytes | None:
        """The key a token names by `kid`, or None when no accepted master has that id."""
        for candidate, key in self.keys:
            if hmac.compare_digest(candidate, kid):
                return key
        return None


class SigningKeys:
    """The deployment's masters, read once per process: from the configuration, or (only
    where `generate` is given: development, the test clock) from the database."""

    def __init__(
        self,
        configured: Sequence[bytes],
        generate: Callable[[], bytes] | None = None,
    ) -> None:
        if not configured and generate is None:
            raise ValueError("no signing master configured and none may be generated")
        self._masters: tuple[bytes, ...] | None = tuple(configured) or None
        self._generate = generate
        self._rings: dict[str, Keyring] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return self._generate is None

    def keyring(self, use: str) -> Keyring:
        ring = self._rings.get(use)
        if ring is None:
            with self._lock:
                if self._masters is None:
                    assert self._generate is not None
                    self._masters = (self._generate(),)
                ring = self._rings[use] = Keyring.derived(use, self._masters)
        return ring


def seal(keys: Keyring, payload: bytes) -> str:
    """`payload` made tamper-evident (not secret): `<key id>.<payload>.<MAC>`, base64url."""
    kid, key = keys.signing
    mac = hmac.new(key, kid.encode() + b"." + payload, hashlib.sha256).digest()
    return f"{kid}.{_b64(payload)}.{_b64(mac)}"


def unseal(keys: Keyring, sealed: str) -> bytes | None:
    """The payload `seal` wrapped, or None when the token is malformed, tampered with or
    signed by a master no longer accepted."""
    parts = sealed.split(".")
    if len(parts) != 3 or not sealed.isascii():
        return None
    kid, encoded_payload, encoded_mac = parts
    key = keys.verifying(kid)
    try:
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    except (ValueError, binascii.Error):
        return None
    expected = hmac.new(key or b"", kid.encode() + b"." + payload, hashlib.sha256).digest()
    return payload if key is not None and hmac.compare_digest(mac, expected) else None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
