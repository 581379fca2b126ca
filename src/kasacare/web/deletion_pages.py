"""The "Delete account" page (issue 13 item 2): the quote of what deleting the account does,
and a form confirming it with the password. Calls the same use case as `DELETE /v1/me`
(`accounts.deletion`); afterwards the browser is signed out and lands on the sign-in page.
A refusal goes back to the page (post/redirect/get, issue 14 item 4), keeping nothing: the
form's only field is the password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kasacare.accounts import deletion
from kasacare.accounts.self_service import WrongPassword
from kasacare.billing.charging import run_charged
from kasacare.context import Context, DbSession, Now
from kasacare.jobs import after_commit
from kasacare.kit.db import committed_on
from kasacare.kit.errors import KasaCareError
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import notice_url
from kasacare.web.refusals import refuse, shown
from kasacare.web.render import page
from kasacare.web.session import CSRF_FIELD, check_csrf, end_session

router = APIRouter(include_in_schema=False)
PATH = "/app/account/delete"


@router.get(PATH, response_class=HTMLResponse)
def delete_account_page(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    quote = deletion.quote(session, context.catalog, now, account)
    typed = shown(request, now)  # only a wrong password's mark or a throttle's wait
    return page(
        request,
        session,
        "delete_account.html",
        account=account,
        quote=quote,
        invalid=typed.invalid if typed else None,
        error=typed.error if typed else None,
    )


@router.post(PATH)
async def delete_account(
    request: Request, context: Context, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD, "")))
    password = str(form.get("password", ""))
    try:
        with committed_on(session, WrongPassword):  # a wrong password counts
            run_charged(
                session,
                context.gateway,
                now,
                lambda s, payer: deletion.delete_account(
                    s, context.catalog, payer, now, account, password=password
                ),
            )
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return refuse(request, now, error, PATH, {}, invalid={"wrong_password": "password"})
    after_commit(context, now)  # refunds, and the erased clips' bytes
    response = RedirectResponse(notice_url("/signin", "account_deleted"), status_code=303)
    end_session(response)
    return response
