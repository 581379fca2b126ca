"""Who is calling: owners and support agents by bearer token, the operator by admin token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kasacare.accounts.models import Account, Role
from kasacare.accounts.service import authenticate
from kasacare.config import Settings
from kasacare.context import Context, DbSession, Now
from kasacare.kit.errors import Forbidden, Unauthorized
from kasacare.kit.security import constant_time_equal

bearer = HTTPBearer(auto_error=False, description="An access token from POST /v1/auth/token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class Staff(StrEnum):
    OPERATOR = "operator"
    SUPPORT = "support"


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send 'Authorization: Bearer <access token>'")
    return credentials.credentials


def current_account(session: DbSession, now: Now, credentials: Credentials) -> Account:
    account = authenticate(session, now, _token(credentials))
    if account is None:
        raise Unauthorized("The access token is unknown or has expired")
    return account


def current_owner(account: Annotated[Account, Depends(current_account)]) -> Account:
    if account.role is not Role.OWNER:
        raise Forbidden("This call is for camera owners")
    return account


def is_operator_token(settings: Settings, token: str) -> bool:
    admin = settings.admin_token
    return admin is not None and constant_time_equal(token, admin.get_secret_value())


def _is_operator(context: Context, token: str) -> bool:
    return is_operator_token(context.settings, token)


def operator(context: Context, credentials: Credentials) -> Staff:
    if not _is_operator(context, _token(credentials)):
        raise Forbidden("This call needs the operator token (KASACARE_ADMIN_TOKEN)")
    return Staff.OPERATOR


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts in an audited call: the operator, or one support agent."""

    staff: Staff
    agent_id: uuid.UUID | None = None

    @property
    def label(self) -> str:
        return f"support:{self.agent_id}" if self.agent_id else self.staff.value


def operator_or_support(
    context: Context, session: DbSession, now: Now, credentials: Credentials
) -> Actor:
    token = _token(credentials)
    if _is_operator(context, token):
        return Actor(Staff.OPERATOR)
    account = authenticate(session, now, token)
    if account is None or account.role is not Role.SUPPORT:
        raise Forbidden("This call is for the operator and support agents")
    return Actor(Staff.SUPPORT, account.id)


AnyAccount = Annotated[Account, Depends(current_account)]
Owner = Annotated[Account, Depends(current_owner)]
Operator = Annotated[Staff, Depends(operator)]
OperatorOrSupport = Annotated[Actor, Depends(operator_or_support)]


def optional_account(session: DbSession, now: Now, credentials: Credentials) -> Account | None:
    """The caller's account when a token is sent (a bad one is refused), else None."""
    if credentials is None:
        return None
    return current_account(session, now, credentials)


MaybeAccount = Annotated[Account | None, Depends(optional_account)]
