"""Entitlement resolution (SPEC F1-F5, T4, V5): one pure function of model, setup and coverage.

A camera's entitlement at an instant comes from, in order:
1. the paid coverage that covers it (trial, plus, premium or legacy; a `past_due`
   subscription still covers it with its plan, M5), found by the subscriptions domain;
2. otherwise its model's free plan while `now < free_plan_ends_at` (F1, F2, F4);
3. otherwise nothing: no cloud recording (F5, or the free period is over).
Paid plans never pause the free countdown (F3): the free period depends on setup alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from kasacare.catalog.schemas import CameraModel
from kasacare.kit.calendar import add_years, require_utc


class EntitlementSource(StrEnum):
    FREE = "free"
    TRIAL = "trial"
    PLUS = "plus"
    PREMIUM = "premium"
    LEGACY = "legacy"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class PaidCoverage:
    """A paid plan covering one camera: its source and the history it grants."""

    source: EntitlementSource
    history_hours: int


@dataclass(frozen=True, slots=True)
class Entitlement:
    source: EntitlementSource
    cloud_recording: bool
    history_hours: int
    manual_recording: bool
    clip_download: bool
    free_plan_ends_at: datetime | None

    @property
    def window(self) -> timedelta:
        """How far back this entitlement keeps clips (zero without cloud recording)."""
        return timedelta(hours=self.history_hours)


def free_plan_ends_at(model: CameraModel, setup_at: datetime) -> datetime | None:
    """Setup + the model's 1 or 2 years, clamped (Feb 29 + 1 y = Feb 28); None if no free plan."""
    if not model.has_free_plan or model.free_period_years is None:
        return None
    return add_years(setup_at, model.free_period_years)


def resolve_entitlement(
    model: CameraModel,
    setup_at: datetime,
    coverage: PaidCoverage | None,
    at: datetime,
) -> Entitlement:
    require_utc(at)
    free_ends = free_plan_ends_at(model, setup_at)
    free_running = free_ends is not None and at < free_ends
    free_hours = (model.free_history_hours or 0) if free_running else 0
    if coverage is not None:
        return Entitlement(
            source=coverage.source,
            cloud_recording=True,
            # A paid window is always the longer one; max() keeps that true for any catalog.
            history_hours=max(coverage.history_hours, free_hours),
            manual_recording=True,
            clip_download=True,
            free_plan_ends_at=free_ends,
        )
    if free_running:
        return Entitlement(
            source=EntitlementSource.FREE,
            cloud_recording=True,
            history_hours=free_hours,
            manual_recording=True,
            clip_download=False,
            free_plan_ends_at=free_ends,
        )
    return Entitlement(
        source=EntitlementSource.NONE,
        cloud_recording=False,
        history_hours=0,
        manual_recording=False,
        clip_download=False,
        free_plan_ends_at=free_ends,
    )
