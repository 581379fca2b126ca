"""Sign-up, sign-in and sign-out pages. A refused sign-in or sign-up goes back to its page
(post/redirect/get, issue 14 item 4: `web.refusals`) with the email, country and `next`
kept, never the password."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kasacare.accounts import service as accounts
from kasacare.accounts.models import Role
from kasacare.context import Context, DbSession, Now
from kasacare.kit.errors import KasaCareError, ValidationFailed
from kasacare.kit.http import client_address
from kasacare.kit.zones import DEFAULT_ZONE, is_zone
from kasacare.web.guard import safe_next
from kasacare.web.messages import notice_url
from kasacare.web.refusals import refuse, shown
from kasacare.web.render import country_choices, page
from kasacare.web.session import CSRF_FIELD, check_csrf, end_session, signed_in, start_session

router = APIRouter(include_in_schema=False)


def home_for(role: Role) -> str:
    return "/support" if role is Role.SUPPORT else "/app/kasa-care"


@router.get("/")
def home(request: Request, session: DbSession, now: Now) -> Response:
    account = signed_in(request, session, now)
    return RedirectResponse(home_for(account.role) if account else "/signin", status_code=303)


SIGNIN = "/signin"
SIGNUP = "/signup"


@router.get(SIGNIN, response_class=HTMLResponse)
def signin_page(request: Request, session: DbSession, now: Now) -> HTMLResponse:
    next_page = safe_next(request.query_params.get("next"))
    typed = shown(request, now)
    return page(
        request,
        session,
        "signin.html",
        account=None,
        next_page=next_page,
        email=typed.fields.get("email", "") if typed else "",
        error=typed.error if typed else None,
    )


@router.post("/signin")
async def signin(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    next_page = safe_next(str(form.get("next", "")))
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        ttl = timedelta(seconds=context.settings.access_token_ttl_seconds)
        issued = accounts.sign_in(
            session,
            now,
            email=email,
            password=password,
            client=client_address(request, context.settings.trusted_networks),
            ttl=ttl,
        )
        session.commit()
        if issued is None:
            raise accounts.InvalidCredentials()
    except KasaCareError as error:
        session.commit()  # a failed sign-in counts
        return refuse(
            request,
            now,
            error,
            SIGNIN,
            {"email": email},
            query={"next": next_page} if next_page else None,
        )
    response = RedirectResponse(next_page or home_for(issued.account.role), status_code=303)
    start_session(response, issued.access_token, ttl, secure=context.settings.cookie_secure)
    return response


@router.get(SIGNUP, response_class=HTMLResponse)
def signup_page(request: Request, context: Context, session: DbSession, now: Now) -> HTMLResponse:
    typed = shown(request, now)
    fields = typed.fields if typed else {}
    return page(
        request,
        session,
        "signup.html",
        account=None,
        countries=country_choices(context.catalog.countries),
        email=fields.get("email", ""),
        country=fields.get("country") or "US",
        invalid=typed.invalid if typed else None,
    )


@router.post("/signup")
async def signup(request: Request, context: Context, session: DbSession, now: Now) -> Response:
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    country = str(form.get("country", ""))
    try:
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        if len(password) < 8:
            raise ValidationFailed("Choose a password of at least 8 characters.", field="password")
        accounts.sign_up(
            session,
            context.catalog,
            now,
            email=email,
            password=password,
            country=country,
            time_zone=_browser_zone(str(form.get("time_zone", ""))),
        )
        ttl = timedelta(seconds=context.settings.access_token_ttl_seconds)
        issued = accounts.sign_in(
            session,
            now,
            email=email,
            password=password,
            client=client_address(request, context.settings.trusted_networks),
            ttl=ttl,
        )
        assert issued is not None
        session.commit()
    except KasaCareError as error:
        session.rollback()
        return refuse(
            request,
            now,
            error,
            SIGNUP,
            {"email": email, "country": country},
            by_field={"password": "signup_password"},
            invalid={
                "invalid_email": "email",
                "email_taken": "email",
                "signup_password": "password",
                "account_country": "country",
            },
        )
    response = RedirectResponse(notice_url("/app/cameras", "welcome"), status_code=303)
    start_session(response, issued.access_token, ttl, secure=context.settings.cookie_secure)
    return response


def _browser_zone(name: str) -> str:
    """The zone the sign-up page read from the browser; UTC when it sent none we know (a
    browser quirk must not stop a sign-up: the zone is a setting the owner can change)."""
    return name if is_zone(name) else DEFAULT_ZONE


@router.post("/signout")
async def signout(request: Request, session: DbSession) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD, "")))
    token = request.cookies.get("kc_session")
    if token:
        accounts.sign_out(session, token)
        session.commit()
    response = RedirectResponse("/signin", status_code=303)
    end_session(response)
    return response
