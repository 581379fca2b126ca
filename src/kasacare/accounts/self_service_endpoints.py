"""Account self-service routes (issue 13 item 1): email verification, password reset and
change, email change, sessions. The routes of `/v1/accounts` and `/v1/me` are in
`endpoints.py`; these sit apart because they are one capability.

Links in mail carry a token; the web pages they open post it to the same use cases, and an
app can post it here."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from kasacare.accounts import self_service
from kasacare.accounts.dependencies import AnyAccount, Credentials
from kasacare.accounts.schemas import (
    EmailChange,
    LinkConfirm,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    SessionList,
    SessionRead,
)
from kasacare.accounts.self_service import WrongPassword
from kasacare.context import DbSession, Now
from kasacare.kit.db import committed_on
from kasacare.kit.http import problem_responses
from kasacare.kit.security import token_digest

router = APIRouter(tags=["accounts"])


def _no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/auth/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(400, 422),
)
def verify_email(body: LinkConfirm, session: DbSession, now: Now) -> Response:
    """Follow the link mailed at sign-up: the account's address is verified (400
    `invalid_link` when unknown, used, replaced or past its 24 hours)."""
    self_service.verify_email(session, now, body.token)
    session.commit()
    return _no_content()


@router.post(
    "/v1/me/verify-email",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=problem_responses(401, 429),
)
def resend_verification(account: AnyAccount, session: DbSession, now: Now) -> Response:
    """Mail a new verification link (the older ones stop working); nothing once verified.
    At most five links to one address in any hour (429 `too_many_links`)."""
    self_service.send_verification(session, account, now)
    session.commit()
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/v1/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=problem_responses(422),
)
def request_password_reset(body: PasswordResetRequest, session: DbSession, now: Now) -> Response:
    """Mail a reset link (single use, 30 minutes) if an account uses this address. The
    answer is 202 whether or not one does."""
    self_service.request_password_reset(session, now, body.email)
    session.commit()
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/v1/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(400, 422),
)
def reset_password(body: PasswordResetConfirm, session: DbSession, now: Now) -> Response:
    """Set the new password from the link; every session of the account is signed out."""
    self_service.reset_password(session, now, body.token, body.new_password)
    session.commit()
    return _no_content()


@router.post(
    "/v1/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 422, 429),
)
def change_password(
    body: PasswordChange,
    account: AnyAccount,
    credentials: Credentials,
    session: DbSession,
    now: Now,
) -> Response:
    """The current password is required (403 `wrong_password`); every other session is
    signed out, this one stays, and the address on file is told."""
    with committed_on(session, WrongPassword):  # the wrong password counts
        self_service.change_password(
            session,
            now,
            account,
            current_password=body.current_password,
            new_password=body.new_password,
            current_token=credentials.credentials if credentials else None,
        )
    session.commit()
    return _no_content()


@router.post(
    "/v1/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=problem_responses(401, 403, 422, 429),
)
def change_email(body: EmailChange, account: AnyAccount, session: DbSession, now: Now) -> Response:
    """Mail a confirmation link to the new address; the change happens when it is followed
    (`POST /v1/auth/email-change/confirm`). An address in use answers the same (202)."""
    with committed_on(session, WrongPassword):  # the wrong password counts
        self_service.request_email_change(
            session, now, account, new_email=body.new_email, password=body.password
        )
    session.commit()
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/v1/auth/email-change/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(400, 409, 422),
)
def confirm_email_change(body: LinkConfirm, session: DbSession, now: Now) -> Response:
    """The account's address becomes the new one, verified; the old address is told. 409
    `email_taken` if another account took it meanwhile."""
    self_service.confirm_email_change(session, now, body.token)
    session.commit()
    return _no_content()


@router.get("/v1/me/sessions", response_model=SessionList, responses=problem_responses(401))
def list_sessions(
    account: AnyAccount, credentials: Credentials, session: DbSession, now: Now
) -> SessionList:
    current = token_digest(credentials.credentials) if credentials else None
    return SessionList(
        items=[
            SessionRead(
                id=row.id,
                created_at=row.created_at,
                expires_at=row.expires_at,
                current=row.digest == current,
            )
            for row in self_service.sessions(session, account, now)
        ]
    )


@router.delete(
    "/v1/me/sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401),
)
def sign_out_everywhere(account: AnyAccount, session: DbSession) -> Response:
    """Sign out everywhere: every session ends, this one included."""
    self_service.sign_out_everywhere(session, account)
    session.commit()
    return _no_content()


@router.delete(
    "/v1/me/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 404),
)
def sign_out_session(session_id: uuid.UUID, account: AnyAccount, session: DbSession) -> Response:
    self_service.sign_out_session(session, account, session_id)
    session.commit()
    return _no_content()
