"""The test clock and failpoints (only with KASACARE_TEST_CLOCK=1; otherwise these paths do
not exist)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from kasacare.accounts.dependencies import Operator
from kasacare.context import Context
from kasacare.jobs import build_exports, deliver_mail, probe_media, run_due, sweep_clips
from kasacare.kit import failpoints
from kasacare.kit.clock import DatabaseTestClock
from kasacare.kit.errors import ValidationFailed
from kasacare.kit.http import problem_responses

router = APIRouter(tags=["admin"])

MAX_ADVANCE_SECONDS = 10 * 366 * 86400


class ClockRead(BaseModel):
    now: datetime


class ClockAdvance(BaseModel):
    seconds: Annotated[int, Field(gt=0, le=MAX_ADVANCE_SECONDS)]


def _test_clock(context: Context) -> DatabaseTestClock:
    clock = context.clock
    assert isinstance(clock, DatabaseTestClock), "test clock routes need the test clock"
    return clock


@router.get("/v1/admin/clock", response_model=ClockRead, responses=problem_responses(401, 403))
def read_clock(_operator: Operator, context: Context) -> ClockRead:
    return ClockRead(now=_test_clock(context).now())


@router.post(
    "/v1/admin/clock/advance", response_model=ClockRead, responses=problem_responses(401, 403, 422)
)
def advance_clock(body: ClockAdvance, _operator: Operator, context: Context) -> ClockRead:
    """Move the test clock forward, running every job that falls due on the way, each at
    its own due instant, before answering. Time never moves back."""
    clock = _test_clock(context)
    target = clock.now() + timedelta(seconds=body.seconds)
    run_due(context, target)
    moved = clock.advance(target - clock.now())
    sweep_clips(context, moved)
    probe_media(context, moved)
    build_exports(context, moved)
    deliver_mail(context, moved)
    return ClockRead(now=moved)


@router.put(
    "/v1/admin/failpoints/{name}",
    status_code=204,
    responses=problem_responses(401, 403, 422),
)
def arm_failpoint(name: str, _operator: Operator) -> Response:
    """Arm a failpoint of this process (`kasacare.kit.failpoints`): the next time it is
    reached, the process dies at once (SIGKILL), as in a crash. For fault-injection tests."""
    try:
        failpoints.arm(name)
    except ValueError:
        raise ValidationFailed(
            f"Unknown failpoint {name!r}", field="name", names=sorted(failpoints.NAMES)
        ) from None
    return Response(status_code=204)
