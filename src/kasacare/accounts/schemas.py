"""Account request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field

Password = Annotated[str, Field(min_length=8, max_length=256)]


class AccountCreate(BaseModel):
    email: EmailStr
    password: Password
    country: Annotated[str, Field(min_length=2, max_length=2, examples=["US"])]


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
    created_at: datetime


class MeRead(AccountRead):
    trial_eligible: bool
    legacy_locked: bool


class SupportAgentCreate(BaseModel):
    email: EmailStr
    password: Password
