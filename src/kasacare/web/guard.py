"""Who may see a page: a signed-in owner or support agent; others go to the sign-in page."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account, Role
from kasacare.web.session import signed_in


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def signed_in_as(request: Request, session: Session, now: datetime, role: Role) -> Account:
    account = signed_in(request, session, now)
    if account is None:
        raise Redirect("/signin")
    if account.role is not role:
        raise Redirect("/support" if account.role is Role.SUPPORT else "/app/kasa-care")
    return account


def redirect_response(error: Redirect) -> RedirectResponse:
    return RedirectResponse(error.location, status_code=303)
