"""Web sessions and CSRF.

The session cookie holds an access token of the API (HttpOnly, Secure, SameSite=Lax), so a
page and an API call authenticate the same way. Every form carries a CSRF token: for a
signed-in visitor an HMAC of their session token under a deployment secret; before sign-in a
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
from kasacare.kit.errors import Forbidden
from kasacare.kit.secrets import shared_secret

SESSION_COOKIE = "kc_session"
ANON_CSRF_COOKIE = "kc_csrf"
CSRF_FIELD = "csrf_token"
CSRF_SECRET = "web_csrf"  # noqa: S105 (the row name, not a secret)


class CsrfRejected(Forbidden):
    code = "csrf_rejected"
    title = "This form has expired"


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def signed_in(request: Request, session: Session, now: datetime) -> Account | None:
    token = session_token(request)
    return authenticate(session, now, token) if token else None


def csrf_token(request: Request, session: Session) -> str:
    token = session_token(request)
    if token:
        secret = shared_secret(session, CSRF_SECRET).encode()
        return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()
    anonymous = request.cookies.get(ANON_CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not anonymous:
        anonymous = secrets.token_urlsafe(24)
        request.state.new_csrf = anonymous
    return anonymous


def check_csrf(request: Request, session: Session, submitted: str | None) -> None:
    expected = csrf_token(request, session)
    if not submitted or not hmac.compare_digest(submitted, expected):
        raise CsrfRejected(
            "This form has expired or did not come from this site. Please try again."
        )


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
