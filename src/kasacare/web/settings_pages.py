"""Account settings: the time zone the owner's dates are shown in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kasacare.accounts import service as accounts
from kasacare.context import DbSession, Now
from kasacare.kit.errors import KasaCareError
from kasacare.kit.zones import zone_names
from kasacare.web import kept_forms
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import notice_url
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)
PATH = "/app/settings"


@router.get(PATH, response_class=HTMLResponse)
def settings_page(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    zones = sorted(zone_names())
    chosen, invalid = account.time_zone, None
    typed = kept_forms.refused(request)
    if typed is not None and typed.action == PATH:  # a refusal: the zone chosen, if listed
        invalid = typed.invalid
        if typed.fields.get("time_zone") in zones:
            chosen = typed.fields["time_zone"]
    return page(
        request,
        session,
        "settings.html",
        account=account,
        zones=zones,
        chosen=chosen,
        invalid=invalid,
    )


@router.post(PATH)
async def save_settings(request: Request, session: DbSession, now: Now) -> Response:
    """A refusal goes back to the page (post/redirect/get, issue 14 item 4) with the zone
    chosen kept for it in a cookie, never in the address."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    zone = str(form.get("time_zone", ""))[:100]
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        accounts.set_time_zone(account, zone)
        session.commit()
    except KasaCareError as error:
        session.rollback()
        invalid = "time_zone" if error.code == "invalid_time_zone" else None
        return kept_forms.refused_redirect(
            request, PATH, error.code, {"time_zone": zone}, anchor="time-zone", invalid=invalid
        )
    return RedirectResponse(notice_url(PATH, "settings_saved"), status_code=303)
