"""Account routes: sign-up, sign-in, me, and support agents created by the operator."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, status

from kasacare.accounts import self_service, service
from kasacare.accounts.dependencies import AnyAccount, Operator
from kasacare.accounts.models import Account
from kasacare.accounts.schemas import (
    AccountCreate,
    AccountRead,
    MeRead,
    MeUpdate,
    SupportAgentCreate,
    TokenRead,
    TokenRequest,
)
from kasacare.context import Context, DbSession, Now
from kasacare.kit.http import client_address, problem_responses

router = APIRouter(tags=["accounts"])


def _read(account: Account) -> AccountRead:
    return AccountRead.model_validate(account, from_attributes=True)


@router.post(
    "/v1/accounts",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountRead,
    responses=problem_responses(409, 422),
)
def create_account(
    body: AccountCreate, context: Context, session: DbSession, now: Now
) -> AccountRead:
    account = service.sign_up(
        session,
        context.catalog,
        now,
        email=body.email,
        password=body.password,
        country=body.country,
        time_zone=body.time_zone,
    )
    session.commit()
    return _read(account)


@router.post("/v1/auth/token", response_model=TokenRead, responses=problem_responses(401, 422, 429))
def issue_token(
    body: TokenRequest, request: Request, context: Context, session: DbSession, now: Now
) -> TokenRead:
    issued = service.sign_in(
        session,
        now,
        email=body.email,
        password=body.password,
        client=client_address(request, context.settings.trusted_networks),
        ttl=timedelta(seconds=context.settings.access_token_ttl_seconds),
    )
    session.commit()  # a failure is counted even though the call fails
    if issued is None:
        raise service.InvalidCredentials("Wrong email or password")
    return TokenRead(access_token=issued.access_token, expires_at=issued.expires_at)


@router.get("/v1/me", response_model=MeRead, responses=problem_responses(401))
def me(account: AnyAccount) -> MeRead:
    return _me(account)


@router.patch("/v1/me", response_model=MeRead, responses=problem_responses(401, 422))
def update_me(body: MeUpdate, account: AnyAccount, session: DbSession) -> MeRead:
    """The account's settings: its time zone (an IANA name, else 422 `invalid_time_zone`)
    and language (`en` or `en-GB`, else 422 `invalid_language`); only those sent change."""
    if body.time_zone is not None:
        service.set_time_zone(account, body.time_zone)
    if body.language is not None:
        self_service.set_language(account, body.language)
    read = _me(account)
    session.commit()
    return read


def _me(account: Account) -> MeRead:
    return MeRead(
        **_read(account).model_dump(),
        trial_eligible=account.trial_eligible,
        legacy_locked=account.legacy_locked,
        email_verified=account.email_verified_at is not None,
    )


@router.post(
    "/v1/admin/support-agents",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountRead,
    responses=problem_responses(401, 403, 409, 422),
)
def create_support_agent(
    body: SupportAgentCreate, _operator: Operator, session: DbSession, now: Now
) -> AccountRead:
    agent = service.create_support_agent(session, now, email=body.email, password=body.password)
    session.commit()
    return _read(agent)
