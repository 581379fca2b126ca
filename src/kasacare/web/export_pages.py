"""The "Export your data" page (issue 13 item 3): the latest export's state (requested,
ready, expired), a button asking for a new one, and the download the mailed link opens,
signed in (the sign-in page brings the person back here). Same use cases as the API
(`accounts.export`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kasacare.accounts import export
from kasacare.accounts.export_endpoints import zip_response
from kasacare.context import Context, DbSession, Now
from kasacare.kit.errors import KasaCareError
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import friendly, notice_url, problem_url
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf

router = APIRouter(include_in_schema=False)
PATH = "/app/account/export"


@router.get(PATH, response_class=HTMLResponse)
def export_page(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    latest = export.latest(session, account.id)
    state = export.state(latest, now).value if latest is not None else None
    return page(request, session, "export.html", account=account, export=latest, state=state)


@router.post(PATH)
async def request_export(request: Request, session: DbSession, now: Now) -> Response:
    """A refusal (an expired form) goes back to the page with its banner (post/redirect/get,
    issue 14 item 4): a button, so nothing typed to keep."""
    account = signed_in_owner(request, session, now)
    form = await request.form()
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        export.request_export(session, account, now)
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return RedirectResponse(problem_url(PATH, error.code), status_code=303)
    return RedirectResponse(notice_url(PATH, "export_requested"), status_code=303)


@router.get(PATH + "/{token}", response_model=None)
def download_export(
    token: str, request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    try:
        key = export.download(session, account.id, token, now)
    except KasaCareError as error:
        latest = export.latest(session, account.id)
        state = export.state(latest, now).value if latest is not None else None
        return page(
            request,
            session,
            "export.html",
            account=account,
            export=latest,
            state=state,
            error=friendly(error),
            status_code=error.status,
        )
    session.rollback()
    return zip_response(context.storage, key)
