"""Account deletion routes (issue 13 item 2): the quote, then the deletion confirmed with
the password."""

from __future__ import annotations

from fastapi import APIRouter, Request

from kasacare.accounts import deletion
from kasacare.accounts.deletion_schemas import DeletionConfirm, DeletionRead
from kasacare.accounts.dependencies import Owner
from kasacare.accounts.self_service import WrongPassword
from kasacare.billing.charging import run_charged
from kasacare.context import Context, DbSession, Now
from kasacare.jobs import after_commit
from kasacare.kit.db import committed_on
from kasacare.kit.http import problem_responses

router = APIRouter(tags=["accounts"])


@router.get("/v1/me/deletion", response_model=DeletionRead, responses=problem_responses(401, 403))
def deletion_quote(owner: Owner, context: Context, session: DbSession, now: Now) -> DeletionRead:
    """What `DELETE /v1/me` would do now: the cancel and its refund, legacy ended (L4),
    cameras unbound, clips erased."""
    return DeletionRead.of(deletion.quote(session, context.catalog, now, owner))


@router.delete(
    "/v1/me",
    response_model=DeletionRead,
    responses=problem_responses(401, 402, 403, 404, 409, 422, 429),
)
def delete_me(
    body: DeletionConfirm,
    request: Request,
    owner: Owner,
    context: Context,
    session: DbSession,
    now: Now,
) -> DeletionRead:
    """Delete the account (GDPR Art. 17), confirmed with the password (403
    `wrong_password`). Answers what was done; every session ends, the email is free."""
    with committed_on(session, WrongPassword):  # the wrong password counts
        done = run_charged(
            session,
            context.gateway,
            now,
            lambda s, payer: deletion.delete_account(
                s,
                context.catalog,
                payer,
                now,
                owner,
                password=body.password,
                authorization=request.headers.get("authorization"),
            ),
        )
    session.commit()
    after_commit(context, now)  # refunds, and the erased clips' bytes
    return DeletionRead.of(done)
