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
    """Go to `location`; `posted`: a form post that found its session ended, whose fields
    the redirect keeps for the page `back_to` (`web.kept_forms`)."""

    def __init__(
        self, location: str, *, posted: Request | None = None, back_to: str | None = None
    ) -> None:
        super().__init__(location)
        self.location = location
        self.posted = posted
        self.back_to = back_to


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
        back_to = _back_here(request)
        query = {"next": back_to}
        if not session_token(request):
            raise Redirect("/signin?" + urlencode(query))
        query["problem"] = "session_expired"  # there was a session: it ended, say so
        posted = request if request.method == "POST" else None
        raise Redirect("/signin?" + urlencode(query), posted=posted, back_to=back_to)
    if account.role is not role:
        raise Redirect("/support" if account.role is Role.SUPPORT else "/app/kasa-care")
    return account


def redirect_response(error: Redirect) -> RedirectResponse:
    return RedirectResponse(error.location, status_code=303)


def signed_in_owner(request: Request, session: Session, now: datetime) -> Account:
    """The signed-in camera owner a page is for (support agents go to their console)."""
    return signed_in_as(request, session, now, Role.OWNER)
