"""Account settings: the time zone the owner's dates are shown in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kasacare.accounts import service as accounts
from kasacare.context import DbSession, Now
from kasacare.kit.errors import KasaCareError
from kasacare.kit.zones import zone_names
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import friendly, notice_url
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)


@router.get("/app/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    return page(request, session, "settings.html", account=account, zones=sorted(zone_names()))


@router.post("/app/settings")
async def save_settings(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        accounts.set_time_zone(account, str(form.get("time_zone", "")))
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return page(
            request,
            session,
            "settings.html",
            account=account,
            zones=sorted(zone_names()),
            error=friendly(error),
            status_code=error.status,
        )
    return RedirectResponse(notice_url("/app/settings", "settings_saved"), status_code=303)
