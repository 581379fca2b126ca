"""Web sessions and CSRF.

The session cookie holds an access token of the API (HttpOnly, Secure, SameSite=Lax), so a
page and an API call authenticate the same way. Every form carries a CSRF token: for a
signed-in visitor `<key id>.<HMAC of their session token>` under the `csrf` signing key
(`kit.signing_keys`: a rotated master still verifies forms it signed); before sign-in a
random value also kept in a cookie (double submit). A POST whose token does not match is
refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from fastapi import Request, Response
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.accounts.service import authenticate
from kasacare.context import get_context
from kasacare.kit.errors import Forbidden
from kasacare.kit.signing_keys import Keyring

SESSION_COOKIE = "kc_session"
ANON_CSRF_COOKIE = "kc_csrf"
CSRF_FIELD = "csrf_token"
#: The use CSRF keys are derived for.
CSRF_KEYS = "csrf"


class CsrfRejected(Forbidden):
    code = "csrf_rejected"
    title = "This form has expired"


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def signed_in(request: Request, session: Session, now: datetime) -> Account | None:
    token = session_token(request)
    return authenticate(session, now, token) if token else None


def _csrf_keys(request: Request) -> Keyring:
    return get_context(request).signing_keys.keyring(CSRF_KEYS)


def _signed(key: bytes, session_token: str) -> str:
    return hmac.new(key, session_token.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    token = session_token(request)
    if token:
        kid, key = _csrf_keys(request).signing
        return f"{kid}.{_signed(key, token)}"
    anonymous = request.cookies.get(ANON_CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not anonymous:
        anonymous = secrets.token_urlsafe(24)
        request.state.new_csrf = anonymous
    return anonymous


def check_csrf(request: Request, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(submitted, _expected_csrf(request, submitted)):
        raise CsrfRejected(
            "This form has expired or did not come from this site. Please try again."
        )


def _expected_csrf(request: Request, submitted: str) -> str:
    """The token a form signed for this visitor should carry, under the key its id names."""
    token = session_token(request)
    if not token:
        return csrf_token(request)
    kid, _, _ = submitted.partition(".")
    key = _csrf_keys(request).verifying(kid)
    return f"{kid}.{_signed(key, token)}" if key is not None else ""


def finish(request: Request, response: Response, *, secure: bool) -> Response:
    """Set the anonymous CSRF cookie a page created, if any."""
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(
            ANON_CSRF_COOKIE, new, httponly=True, secure=secure, samesite="lax", path="/"
        )
    return response


def start_session(response: Response, token: str, ttl: timedelta, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    response.delete_cookie(ANON_CSRF_COOKIE, path="/")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
