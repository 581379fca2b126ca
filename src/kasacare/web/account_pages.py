"""Account self-service pages (issue 13 item 1): the landing pages of mailed links (verify
an address, reset a password, confirm a new address), forgot password, the account page
(email, password, language), sessions, and renaming a camera. Every form carries the CSRF
token and calls the same use cases as the API (`accounts.self_service`).

A link's page never acts on the GET: it asks for a click (or a new password), so a mail
scanner that follows links redeems nothing.

A refused form goes back to its page (post/redirect/get, issue 14 item 4: `web.refusals`):
a mailed link's token stays in the address it came in, never in a cookie; typed addresses
and names are kept, never a password."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kasacare.accounts import self_service
from kasacare.accounts.models import Account
from kasacare.accounts.preferences import LANGUAGES
from kasacare.accounts.self_service import WrongPassword
from kasacare.cameras import service as cameras
from kasacare.context import DbSession, Now
from kasacare.kit.db import committed_on
from kasacare.kit.errors import KasaCareError
from kasacare.kit.security import token_digest
from kasacare.web.guard import signed_in_owner
from kasacare.web.messages import notice_url
from kasacare.web.refusals import refuse, shown
from kasacare.web.render import page
from kasacare.web.session import (
    CSRF_FIELD,
    check_csrf,
    end_session,
    session_token,
    signed_in,
)

router = APIRouter(include_in_schema=False)

#: The two link pages that only ask for a click: (template title, text, button, use case).
_CONFIRMING: dict[str, tuple[str, str, str]] = {
    "/verify-email": (
        "Confirm your email address",
        "Confirm that this address is yours, so we can send your account's mail to it.",
        "Confirm my email address",
    ),
    "/confirm-email": (
        "Confirm your new email address",
        "Your account will use this new address from now on, for signing in and for mail.",
        "Use my new email address",
    ),
}


def _back(path: str, notice: str) -> RedirectResponse:
    """Back to `path` with the banner of a notice code (`web.messages.NOTICES`)."""
    return RedirectResponse(notice_url(path, notice), status_code=303)


async def _form(request: Request, session: Session) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD, "")))
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


# --- links from mail ---------------------------------------------------------------------


def _link_page(
    request: Request, session: Session, now: datetime, path: str, token: str
) -> HTMLResponse:
    title, text, button = _CONFIRMING[path]
    return page(
        request,
        session,
        "link_confirm.html",
        account=signed_in(request, session, now),
        title=title,
        text=text,
        button=button,
        action=path,
        token=token,
    )


@router.get("/verify-email", response_class=HTMLResponse)
@router.get("/confirm-email", response_class=HTMLResponse)
def link_page(request: Request, session: DbSession, now: Now, token: str = "") -> Response:
    return _link_page(request, session, now, request.url.path, token)


async def _redeem(
    request: Request,
    session: Session,
    now: datetime,
    use_case: Callable[[Session, datetime, str], Account],
    notice: str,
) -> Response:
    path = request.url.path
    token = ""
    try:
        form = await _form(request, session)
        token = form.get("token", "")
        use_case(session, now, token)
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return refuse(request, now, error, path, {}, query={"token": token})
    viewer = signed_in(request, session, now)
    return _back("/app/account" if viewer else "/signin", notice)


@router.post("/verify-email")
async def verify_email(request: Request, session: DbSession, now: Now) -> Response:
    return await _redeem(request, session, now, self_service.verify_email, "email_verified")


@router.post("/confirm-email")
async def confirm_email(request: Request, session: DbSession, now: Now) -> Response:
    return await _redeem(request, session, now, self_service.confirm_email_change, "email_changed")


FORGOT = "/forgot-password"
RESET = "/reset-password"


@router.get(FORGOT, response_class=HTMLResponse)
def forgot_password_page(request: Request, session: DbSession, now: Now) -> HTMLResponse:
    typed = shown(request, now)
    return page(
        request,
        session,
        "forgot_password.html",
        account=None,
        email=typed.fields.get("email", "") if typed else "",
        invalid=typed.invalid if typed else None,
    )


@router.post("/forgot-password")
async def forgot_password(request: Request, session: DbSession, now: Now) -> Response:
    email = ""
    try:
        form = await _form(request, session)
        email = form.get("email", "")
        self_service.request_password_reset(session, now, email)
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return refuse(
            request, now, error, FORGOT, {"email": email}, invalid={"invalid_email": "email"}
        )
    # The same answer whether or not an account uses the address (no probing).
    return page(request, session, "forgot_password.html", account=None, sent=True, email=email)


@router.get(RESET, response_class=HTMLResponse)
def reset_password_page(
    request: Request, session: DbSession, now: Now, token: str = ""
) -> HTMLResponse:
    typed = shown(request, now)
    invalid = typed.invalid if typed else None
    return page(request, session, "reset_password.html", account=None, token=token, invalid=invalid)


@router.post("/reset-password")
async def reset_password(request: Request, session: DbSession, now: Now) -> Response:
    token = ""
    try:
        form = await _form(request, session)
        token = form.get("token", "")
        self_service.reset_password(session, now, token, form.get("new_password", ""))
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return refuse(
            request,
            now,
            error,
            RESET,
            {},
            query={"token": token},
            invalid={"password_length": "new_password"},
        )
    # Every session ended, this browser's too: sign in with the new password.
    response = _back("/signin", "password_reset")
    end_session(response)
    return response


# --- the account page --------------------------------------------------------------------


ACCOUNT = "/app/account"
EMAIL_ACTION = "/app/account/email"


async def _account_form(
    request: Request,
    session: Session,
    now: datetime,
    act: Callable[[Account, dict[str, str]], None],
    notice: str,
    *,
    anchor: str,
    keep: tuple[str, ...] = (),
    invalid: Mapping[str, str] | None = None,
) -> Response:
    """One of the account page's forms; a refusal goes back to the form (`anchor`) with the
    fields named in `keep` (never a password) and the field `invalid` names marked."""
    account = signed_in_owner(request, session, now)
    form: dict[str, str] = {}
    try:
        form = await _form(request, session)
        with committed_on(session, WrongPassword):  # a wrong password counts
            act(account, form)
        session.commit()
    except KasaCareError as error:
        session.rollback()
        # Keep what was typed (never a password) so the owner corrects rather than retypes.
        kept = {name: form.get(name, "") for name in keep}
        return refuse(request, now, error, ACCOUNT, kept, anchor=anchor, invalid=invalid)
    return _back(ACCOUNT, notice)


@router.get(ACCOUNT, response_class=HTMLResponse)
def account_page(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    typed = shown(request, now)
    typed_email = typed.fields.get("new_email", "") if typed else ""
    return page(
        request,
        session,
        "account.html",
        account=account,
        languages=LANGUAGES,
        new_email=typed_email if typed and typed.action == EMAIL_ACTION else "",
        invalid=typed.invalid if typed else None,
        error=typed.error if typed else None,
    )


@router.post("/app/account/verify")
async def resend_verification(request: Request, session: DbSession, now: Now) -> Response:
    def act(account: Account, _: dict[str, str]) -> None:
        self_service.send_verification(session, account, now)

    return await _account_form(
        request, session, now, act, "verification_sent", anchor="change-email"
    )


@router.post(EMAIL_ACTION)
async def change_email(request: Request, session: DbSession, now: Now) -> Response:
    def act(account: Account, form: dict[str, str]) -> None:
        self_service.request_email_change(
            session,
            now,
            account,
            new_email=form.get("new_email", ""),
            password=form.get("password", ""),
        )

    return await _account_form(
        request,
        session,
        now,
        act,
        "email_change_sent",
        anchor="change-email",
        keep=("new_email",),
        invalid={"invalid_email": "new_email", "wrong_password": "password"},
    )


@router.post("/app/account/password")
async def change_password(request: Request, session: DbSession, now: Now) -> Response:
    def act(account: Account, form: dict[str, str]) -> None:
        self_service.change_password(
            session,
            now,
            account,
            current_password=form.get("current_password", ""),
            new_password=form.get("new_password", ""),
            current_token=session_token(request),
        )

    return await _account_form(
        request,
        session,
        now,
        act,
        "password_changed",
        anchor="change-password",
        invalid={"wrong_password": "current_password", "password_length": "new_password"},
    )


@router.post("/app/account/language")
async def save_language(request: Request, session: DbSession, now: Now) -> Response:
    def act(account: Account, form: dict[str, str]) -> None:
        self_service.set_language(account, form.get("language", ""))

    return await _account_form(
        request,
        session,
        now,
        act,
        "language_saved",
        anchor="change-language",
        invalid={"invalid_language": "language"},
    )


# --- sessions ------------------------------------------------------------------------------


@router.get("/app/account/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    current = token_digest(session_token(request) or "")
    rows = [
        {"id": row.id, "created_at": row.created_at, "current": row.digest == current}
        for row in self_service.sessions(session, account, now)
    ]
    return page(request, session, "sessions.html", account=account, sessions=rows)


@router.post("/app/account/sessions/sign-out-everywhere")
async def sign_out_everywhere(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in_owner(request, session, now)
    await _form(request, session)
    self_service.sign_out_everywhere(session, account)
    session.commit()
    response = _back("/signin", "signed_out_everywhere")
    end_session(response)
    return response


@router.post("/app/account/sessions/{session_id}/sign-out")
async def sign_out_session(
    session_id: uuid.UUID, request: Request, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    await _form(request, session)
    self_service.sign_out_session(session, account, session_id)
    session.commit()
    return _back("/app/account/sessions", "session_signed_out")


# --- renaming a camera ---------------------------------------------------------------------


@router.get("/app/cameras/{camera_id}/rename", response_class=HTMLResponse)
def rename_camera_page(
    camera_id: uuid.UUID, request: Request, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    camera = cameras.get_owned(session, account, camera_id)
    typed = shown(request, now)
    return page(
        request,
        session,
        "rename_camera.html",
        account=account,
        camera=camera,
        typed_name=typed.fields.get("name") if typed else None,
        invalid=typed.invalid if typed else None,
    )


@router.post("/app/cameras/{camera_id}/rename")
async def rename_camera(
    camera_id: uuid.UUID, request: Request, session: DbSession, now: Now
) -> Response:
    account = signed_in_owner(request, session, now)
    cameras.get_owned(session, account, camera_id)  # another's camera: not found, as before
    name = ""
    try:
        form = await _form(request, session)
        name = form.get("name", "")
        cameras.rename(session, account, camera_id, name)
        session.commit()
    except KasaCareError as error:
        session.rollback()
        page_path = request.url.path  # the form's page has the post's address
        kept = {"name": name}
        return refuse(request, now, error, page_path, kept, invalid={"camera_name": "name"})
    return _back("/app/cameras", "camera_renamed")
