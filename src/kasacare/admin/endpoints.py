"""The test clock (only with KASACARE_TEST_CLOCK=1; otherwise these paths do not exist)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kasacare.accounts.dependencies import Operator
from kasacare.context import Context
from kasacare.jobs import deliver_mail, run_due, sweep_clips
from kasacare.kit.clock import DatabaseTestClock
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
    deliver_mail(context, moved)
    return ClockRead(now=moved)
