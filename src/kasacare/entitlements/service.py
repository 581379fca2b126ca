"""Entitlements of stored cameras: the pure rules fed with what the database holds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, join
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.entitlements.rules import (
    Entitlement,
    EntitlementSource,
    PaidCoverage,
    resolve_entitlement,
)
from kasacare.legacy.models import LegacyCamera, LegacySubscription
from kasacare.legacy.repository import LEGACY_LIVE, LegacyRepository
from kasacare.subscriptions.models import PlanId, Status, Subscription, SubscriptionCamera
from kasacare.subscriptions.repository import (
    SEAT_HELD,
    SUBSCRIPTION_LIVE,
    SubscriptionRepository,
)


def paid_coverage(
    session: Session, catalog: Catalog, camera_ids: list[uuid.UUID]
) -> dict[uuid.UUID, PaidCoverage]:
    """The paid plan covering each camera now: a live subscription's seat or a live legacy
    subscription (P4: never both). Trialing shows as `trial`; past_due keeps its plan (M5)."""
    coverage = {}
    for camera_id, plan_id, status in SubscriptionRepository(session).covering_plans(camera_ids):
        coverage[camera_id] = seat_coverage(catalog, plan_id, status)
    for camera_id, legacy_plan in LegacyRepository(session).covering_plans(camera_ids):
        coverage[camera_id] = legacy_coverage(catalog, legacy_plan)
    return coverage


def seat_coverage(catalog: Catalog, plan_id: PlanId, status: Status) -> PaidCoverage:
    source = EntitlementSource.TRIAL if status is Status.TRIALING else EntitlementSource(plan_id)
    return PaidCoverage(source, catalog.plans[plan_id].history_days * 24)


def legacy_coverage(catalog: Catalog, legacy_plan: str) -> PaidCoverage:
    return PaidCoverage(
        EntitlementSource.LEGACY, catalog.legacy_plans[legacy_plan].history_days * 24
    )


#: What covers each camera of a query, as three more columns (`with_coverage`).
COVERAGE_COLUMNS = (Subscription.plan, Subscription.status, LegacySubscription.plan)


def with_coverage(query: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """`query` (over `Camera`) with `COVERAGE_COLUMNS` added by outer joins: a hot path
    (clip ingest) reads cameras and what covers them in one statement, which
    `coverage_of` turns into the `paid_coverage` of each."""
    seats = join(
        SubscriptionCamera,
        Subscription,
        and_(Subscription.id == SubscriptionCamera.subscription_id, SUBSCRIPTION_LIVE),
    )
    legacy = join(
        LegacyCamera,
        LegacySubscription,
        and_(LegacySubscription.id == LegacyCamera.legacy_subscription_id, LEGACY_LIVE),
    )
    return (
        query.outerjoin(seats, and_(SubscriptionCamera.camera_id == Camera.id, SEAT_HELD))
        .outerjoin(legacy, LegacyCamera.camera_id == Camera.id)
        .add_columns(*COVERAGE_COLUMNS)
    )


def coverage_of(
    catalog: Catalog, plan_id: PlanId | None, status: Status | None, legacy_plan: str | None
) -> PaidCoverage | None:
    """`paid_coverage` of one camera from its `COVERAGE_COLUMNS`."""
    if legacy_plan is not None:
        return legacy_coverage(catalog, legacy_plan)
    if plan_id is not None and status is not None:
        return seat_coverage(catalog, plan_id, status)
    return None


def camera_entitlements(
    session: Session, catalog: Catalog, cameras: list[Camera], now: datetime
) -> dict[uuid.UUID, Entitlement]:
    """Each camera's entitlement at `now`, with one coverage query for all of them."""
    coverage = paid_coverage(session, catalog, [camera.id for camera in cameras])
    return {
        camera.id: entitlement_of(
            catalog, camera.device.model, camera.device.setup_at, coverage.get(camera.id), now
        )
        for camera in cameras
    }


def entitlement_of(
    catalog: Catalog,
    model_name: str,
    setup_at: datetime,
    coverage: PaidCoverage | None,
    now: datetime,
) -> Entitlement:
    """The rules fed with one camera's device model, setup instant and paid coverage."""
    model = catalog.model(model_name)
    if model is None:  # the catalog lost a model that cameras still use: a config error
        raise LookupError(f"camera model {model_name!r} is not in the catalog")
    return resolve_entitlement(model, setup_at, coverage, now)


def camera_entitlement(
    session: Session, catalog: Catalog, camera: Camera, now: datetime
) -> Entitlement:
    return camera_entitlements(session, catalog, [camera], now)[camera.id]
