"""Entitlement resolution (SPEC F1-F5, V5): the pure function at its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasacare.catalog.schemas import Catalog
from kasacare.entitlements.rules import (
    EntitlementSource,
    PaidCoverage,
    free_plan_ends_at,
    resolve_entitlement,
)

SECOND = timedelta(seconds=1)
SETUP = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLUS = PaidCoverage(EntitlementSource.PLUS, 30 * 24)


@pytest.mark.parametrize(
    ("model", "hours", "ends"),
    [
        ("KC100", 12, datetime(2028, 3, 1, 12, tzinfo=UTC)),
        ("KC110", 12, datetime(2028, 3, 1, 12, tzinfo=UTC)),
        ("KC120", 48, datetime(2028, 3, 1, 12, tzinfo=UTC)),
        ("KC200", 48, datetime(2028, 3, 1, 12, tzinfo=UTC)),
        ("KC300", 48, datetime(2027, 3, 1, 12, tzinfo=UTC)),
        ("KC300S2", 48, datetime(2027, 3, 1, 12, tzinfo=UTC)),
        ("KC310", 12, datetime(2027, 3, 1, 12, tzinfo=UTC)),
        ("KC310S2", 12, datetime(2027, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_f1_q12_free_history_by_model_until_the_exact_end(
    catalog: Catalog, model: str, hours: int, ends: datetime
) -> None:
    camera_model = catalog.models[model]
    assert free_plan_ends_at(camera_model, SETUP) == ends
    before = resolve_entitlement(camera_model, SETUP, None, ends - SECOND)
    assert before.source is EntitlementSource.FREE
    assert (before.cloud_recording, before.history_hours, before.manual_recording) == (
        True,
        hours,
        True,
    )
    assert before.clip_download is False
    assert before.free_plan_ends_at == ends
    # F4: the free plan holds while now < free_plan_ends_at; at that instant it is over.
    at_end = resolve_entitlement(camera_model, SETUP, None, ends)
    assert at_end.source is EntitlementSource.NONE
    assert (at_end.cloud_recording, at_end.history_hours, at_end.manual_recording) == (
        False,
        0,
        False,
    )
    after = resolve_entitlement(camera_model, SETUP, None, ends + SECOND)
    assert after.source is EntitlementSource.NONE


@pytest.mark.parametrize("model", ["KC105", "KC115", "EC60", "EC70", "KC400", "KC410S", "KC420WS"])
def test_f5_q16_sd_card_models_have_no_free_cloud_recording(catalog: Catalog, model: str) -> None:
    entitlement = resolve_entitlement(catalog.models[model], SETUP, None, SETUP)
    assert entitlement.source is EntitlementSource.NONE
    assert not entitlement.cloud_recording
    assert not entitlement.manual_recording  # V5 / Q15: no manual recording either
    assert entitlement.free_plan_ends_at is None


def test_v5_q15_a_subscription_gives_sd_card_models_cloud_and_manual_recording(
    catalog: Catalog,
) -> None:
    entitlement = resolve_entitlement(catalog.models["KC115"], SETUP, PLUS, SETUP)
    assert entitlement.source is EntitlementSource.PLUS
    assert entitlement.cloud_recording and entitlement.manual_recording
    assert entitlement.clip_download
    assert entitlement.history_hours == 720


def test_f2_leap_day_setup_plus_one_year_ends_feb_28(catalog: Catalog) -> None:
    leap = datetime(2024, 2, 29, 10, 0, tzinfo=UTC)
    ends = datetime(2025, 2, 28, 10, 0, tzinfo=UTC)
    assert free_plan_ends_at(catalog.models["KC300"], leap) == ends
    assert (
        resolve_entitlement(catalog.models["KC300"], leap, None, ends - SECOND).history_hours == 48
    )
    assert not resolve_entitlement(catalog.models["KC300"], leap, None, ends).cloud_recording
    # Two years from a leap day lands on Feb 28 as well.
    assert free_plan_ends_at(catalog.models["KC120"], leap) == datetime(2026, 2, 28, 10, tzinfo=UTC)


def test_f3_paid_plan_does_not_pause_the_free_countdown(catalog: Catalog) -> None:
    model = catalog.models["KC310"]
    ends = datetime(2027, 3, 1, 12, tzinfo=UTC)
    during = resolve_entitlement(model, SETUP, PLUS, ends - SECOND)
    assert during.free_plan_ends_at == ends
    # F4: the paid plan ends after the free period did: no cloud recording at all.
    assert resolve_entitlement(model, SETUP, None, ends + timedelta(days=1)).source is (
        EntitlementSource.NONE
    )


def test_f4_q13_ending_a_paid_plan_returns_to_the_running_free_plan(catalog: Catalog) -> None:
    model = catalog.models["KC120"]
    at = SETUP + timedelta(days=100)
    paid = resolve_entitlement(model, SETUP, PLUS, at)
    assert (paid.source, paid.history_hours) == (EntitlementSource.PLUS, 720)
    free = resolve_entitlement(model, SETUP, None, at)
    assert (free.source, free.history_hours) == (EntitlementSource.FREE, 48)


@pytest.mark.parametrize(
    "source",
    [EntitlementSource.TRIAL, EntitlementSource.PREMIUM, EntitlementSource.LEGACY],
)
def test_t4_paid_sources_grant_their_history_and_download(
    catalog: Catalog, source: EntitlementSource
) -> None:
    coverage = PaidCoverage(source, 14 * 24)
    entitlement = resolve_entitlement(catalog.models["KC100"], SETUP, coverage, SETUP)
    assert (entitlement.source, entitlement.history_hours) == (source, 336)
    assert entitlement.clip_download and entitlement.manual_recording


def test_resolution_refuses_naive_time(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="UTC"):
        resolve_entitlement(catalog.models["KC100"], SETUP, None, datetime(2026, 3, 2))  # noqa: DTZ001


@given(
    st.sampled_from(["KC100", "KC120", "KC300", "KC310", "KC105"]),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3 * 366)),
)
def test_f1_f4_free_plan_holds_exactly_while_now_is_before_its_end(
    catalog: Catalog, model: str, elapsed: timedelta
) -> None:
    camera_model = catalog.models[model]
    entitlement = resolve_entitlement(camera_model, SETUP, None, SETUP + elapsed)
    ends = free_plan_ends_at(camera_model, SETUP)
    running = ends is not None and SETUP + elapsed < ends
    assert entitlement.cloud_recording is running
    assert entitlement.source is (EntitlementSource.FREE if running else EntitlementSource.NONE)
