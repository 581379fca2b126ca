"""Account request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from kasacare.accounts.emails import InvalidEmail, checked_email
from kasacare.accounts.preferences import DEFAULT_LANGUAGE, LANGUAGES


def _email(value: str) -> str:
    try:
        return checked_email(value)
    except InvalidEmail as error:
        raise ValueError(error.detail) from None


#: Exactly one address (no list, no display name), checked without DNS, lower case.
EmailAddress = Annotated[
    str,
    Field(
        min_length=3,
        max_length=320,
        examples=["owner@example.com"],
        json_schema_extra={"format": "email"},
    ),
    AfterValidator(_email),
]
Password = Annotated[str, Field(min_length=8, max_length=256)]
Language = Annotated[
    str,
    Field(
        min_length=2,
        max_length=16,
        examples=[DEFAULT_LANGUAGE],
        description=f"One of {', '.join(LANGUAGES)}",
    ),
]
TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        examples=["Europe/London"],
        description="IANA time zone the owner's dates are shown in",
    ),
]


class AccountCreate(BaseModel):
    email: EmailAddress
    password: Password
    country: Annotated[str, Field(min_length=2, max_length=2, examples=["US"])]
    time_zone: TimeZone = "UTC"


class TokenRequest(BaseModel):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_at: datetime


class AccountRead(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    country: str | None
    currency: str | None
    time_zone: str
    language: str
    created_at: datetime


class MeRead(AccountRead):
    trial_eligible: bool
    legacy_locked: bool
    email_verified: bool


class MeUpdate(BaseModel):
    """Only the settings sent change."""

    time_zone: TimeZone | None = None
    language: Language | None = None


class SupportAgentCreate(BaseModel):
    email: EmailAddress
    password: Password


# --- self-service (issue 13 item 1) ----------------------------------------------------------

LinkToken = Annotated[str, Field(min_length=1, max_length=128, description="From the mailed link")]


class LinkConfirm(BaseModel):
    token: LinkToken


class PasswordResetRequest(BaseModel):
    email: EmailAddress


class PasswordResetConfirm(BaseModel):
    token: LinkToken
    new_password: Password


class PasswordChange(BaseModel):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class EmailChange(BaseModel):
    new_email: EmailAddress
    password: Annotated[str, Field(min_length=1, max_length=256)]


class SessionRead(BaseModel):
    """A signed-in session (an API token or a browser); never the token itself."""

    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    current: bool


class SessionList(BaseModel):
    items: list[SessionRead]
