"""Who may see a page: a signed-in owner or support agent; others go to the sign-in page."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account, Role
from kasacare.web.session import session_token, signed_in


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def safe_next(value: str | None) -> str | None:
    """A page of ours to go back to after signing in: a local path, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    return value if len(value) <= 2000 and value.isprintable() else None


def _back_here(request: Request) -> str:
    """Where the person was: this page, or for a form post the page the form was on."""
    if request.method == "GET":
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path:
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return request.url.path


def signed_in_as(request: Request, session: Session, now: datetime, role: Role) -> Account:
    account = signed_in(request, session, now)
    if account is None:
        query = {"next": _back_here(request)}
        if session_token(request):  # there was a session: it ended, say so
            query["problem"] = "session_expired"
        raise Redirect("/signin?" + urlencode(query))
    if account.role is not role:
        raise Redirect("/support" if account.role is Role.SUPPORT else "/app/kasa-care")
    return account


def redirect_response(error: Redirect) -> RedirectResponse:
    return RedirectResponse(error.location, status_code=303)


def signed_in_owner(request: Request, session: Session, now: datetime) -> Account:
    """The signed-in camera owner a page is for (support agents go to their console)."""
    return signed_in_as(request, session, now, Role.OWNER)
