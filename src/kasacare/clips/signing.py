"""Signed clip URLs (V7): an HMAC-SHA256 token that names one storage key until an instant.

Our own app serves clip bytes (`GET .../<token>`), whatever the storage backend, so every play
can re-check erasure in the database. The token is URL-safe (`[A-Za-z0-9_-]` and two `.`):

    <key id> "." base64url("<expires unix seconds>:<key>") "." base64url(HMAC-SHA256(k, message))

where `k` is the `clip-urls` key of the master `<key id>` names (`kit.signing_keys`: a rotated
master still verifies what it signed, an unknown id is refused), and the message also carries
the key id, a version and the purpose (`play`, `download`, or `thumbnail`:
then the key is the clip's id, see `clips.thumbnails`), so a playback token never opens a
download and the other way round. `verify` checks the MAC in constant
time before it trusts anything in the token, then the expiry: a token is valid while
`now < expires_at` (`sign(key, now + PLAYBACK_URL_TTL, ...)` is valid for exactly 300 s).
The key's bytes can be read from the token by whoever holds it: it names a clip the holder
was allowed to see, and nothing secret.

Errors are `Forbidden` (403 `forbidden`) subclasses, so a route lets them through as they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Literal

from kasacare.clips.storage import InvalidClipKey, validate_key
from kasacare.kit.calendar import require_utc
from kasacare.kit.errors import Forbidden
from kasacare.kit.signing_keys import Keyring

#: V7: playback and download URLs are valid 300 s.
PLAYBACK_URL_TTL = timedelta(seconds=300)
#: The use clip URL keys are derived for.
CLIP_URL_KEYS = "clip-urls"
_VERSION = b"kasacare-clip-url-v2"

Purpose = Literal["play", "download", "thumbnail"]


class ClipUrlInvalid(Forbidden):
    """Not a token we signed: malformed, tampered with, another purpose or another secret."""

    title = "Invalid clip link"


class ClipUrlExpired(ClipUrlInvalid):
    """A genuine token whose instant has passed: ask the activity center for a new URL."""

    title = "Clip link expired"


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("empty or non-ASCII")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _mac(secret: bytes, kid: str, purpose: Purpose, payload: bytes) -> bytes:
    message = b"\n".join((_VERSION, kid.encode("ascii"), purpose.encode("ascii"), payload))
    return hmac.new(secret, message, hashlib.sha256).digest()


def sign(key: str, expires_at: datetime, keys: Keyring, *, purpose: Purpose = "play") -> str:
    """A URL-safe token for `key`, valid until `expires_at` (whole seconds, rounded down),
    signed with the keyring's current key."""
    validate_key(key)
    expires = int(require_utc(expires_at).timestamp())
    payload = f"{expires}:{key}".encode("ascii")
    kid, secret = keys.signing
    return f"{kid}.{_b64encode(payload)}.{_b64encode(_mac(secret, kid, purpose, payload))}"


def verify(token: str, keys: Keyring, now: datetime, *, purpose: Purpose = "play") -> str:
    """The key `token` names; raises `ClipUrlInvalid`, or `ClipUrlExpired` at or past expiry."""
    require_utc(now)
    parts = token.split(".")
    if len(parts) != 3:
        raise ClipUrlInvalid("Malformed clip link")
    kid, encoded_payload, encoded_mac = parts
    try:
        payload = _b64decode(encoded_payload)
        mac = _b64decode(encoded_mac)
    except (ValueError, binascii.Error):
        raise ClipUrlInvalid("Malformed clip link") from None
    secret = keys.verifying(kid) if kid.isascii() else None
    if secret is None:
        raise ClipUrlInvalid("Clip link was not signed with a key this service accepts")
    if not hmac.compare_digest(mac, _mac(secret, kid, purpose, payload)):
        raise ClipUrlInvalid("Clip link signature does not match")
    # Signed by us, so well-formed; still parsed defensively.
    try:
        expires_text, _, key = payload.decode("ascii").partition(":")
        expires = int(expires_text)
        validate_key(key)
    except (UnicodeDecodeError, ValueError, InvalidClipKey):
        raise ClipUrlInvalid("Malformed clip link") from None
    if now.timestamp() >= expires:
        expired_at = datetime.fromtimestamp(expires, UTC).isoformat()
        raise ClipUrlExpired(f"Clip link expired at {expired_at}")
    return key
