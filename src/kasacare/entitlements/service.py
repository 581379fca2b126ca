"""Entitlements of stored cameras: the pure rules fed with what the database holds."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.entitlements.rules import (
    Entitlement,
    EntitlementSource,
    PaidCoverage,
    resolve_entitlement,
)
from kasacare.legacy.repository import LegacyRepository
from kasacare.subscriptions.models import Status
from kasacare.subscriptions.repository import SubscriptionRepository


def paid_coverage(
    session: Session, catalog: Catalog, camera_ids: list[uuid.UUID]
) -> dict[uuid.UUID, PaidCoverage]:
    """The paid plan covering each camera now: a live subscription's seat or a live legacy
    subscription (P4: never both). Trialing shows as `trial`; past_due keeps its plan (M5)."""
    coverage = {}
    for camera_id, subscription in SubscriptionRepository(session).covering(camera_ids):
        plan = catalog.plans[subscription.plan]
        source = (
            EntitlementSource.TRIAL
            if subscription.status is Status.TRIALING
            else EntitlementSource(subscription.plan.value)
        )
        coverage[camera_id] = PaidCoverage(source, plan.history_days * 24)
    for camera_id, legacy in LegacyRepository(session).covering(camera_ids):
        legacy_plan = catalog.legacy_plans[legacy.plan]
        coverage[camera_id] = PaidCoverage(EntitlementSource.LEGACY, legacy_plan.history_days * 24)
    return coverage


def camera_entitlements(
    session: Session, catalog: Catalog, cameras: list[Camera], now: datetime
) -> dict[uuid.UUID, Entitlement]:
    """Each camera's entitlement at `now`, with one coverage query for all of them."""
    coverage = paid_coverage(session, catalog, [camera.id for camera in cameras])
    result = {}
    for camera in cameras:
        model = catalog.model(camera.device.model)
        if model is None:  # the catalog lost a model that cameras still use: a config error
            raise LookupError(f"camera model {camera.device.model!r} is not in the catalog")
        result[camera.id] = resolve_entitlement(
            model, camera.device.setup_at, coverage.get(camera.id), now
        )
    return result


def camera_entitlement(
    session: Session, catalog: Catalog, camera: Camera, now: datetime
) -> Entitlement:
    return camera_entitlements(session, catalog, [camera], now)[camera.id]
