"""Entitlements of stored cameras: the pure rules fed with what the database holds."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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
    for camera_id, plan_id, status in SubscriptionRepository(session).covering_plans(camera_ids):
        plan = catalog.plans[plan_id]
        source = (
            EntitlementSource.TRIAL
            if status is Status.TRIALING
            else EntitlementSource(plan_id.value)
        )
        coverage[camera_id] = PaidCoverage(source, plan.history_days * 24)
    for camera_id, legacy_plan_id in LegacyRepository(session).covering_plans(camera_ids):
        legacy_plan = catalog.legacy_plans[legacy_plan_id]
        coverage[camera_id] = PaidCoverage(EntitlementSource.LEGACY, legacy_plan.history_days * 24)
    return coverage


def camera_entitlements(
    session: Session, catalog: Catalog, cameras: list[Camera], now: datetime
) -> dict[uuid.UUID, Entitlement]:
    """Each camera's entitlement at `now`, with one coverage query for all of them."""
    devices = {camera.id: (camera.device.model, camera.device.setup_at) for camera in cameras}
    return entitlements_of(session, catalog, devices, now)


def entitlements_of(
    session: Session,
    catalog: Catalog,
    devices: Mapping[uuid.UUID, tuple[str, datetime]],
    now: datetime,
) -> dict[uuid.UUID, Entitlement]:
    """`camera_entitlements` from each camera's device model and setup instant, for callers
    that read those as plain columns (clip ingest) instead of loading cameras."""
    coverage = paid_coverage(session, catalog, list(devices))
    result = {}
    for camera_id, (model_name, setup_at) in devices.items():
        model = catalog.model(model_name)
        if model is None:  # the catalog lost a model that cameras still use: a config error
            raise LookupError(f"camera model {model_name!r} is not in the catalog")
        result[camera_id] = resolve_entitlement(model, setup_at, coverage.get(camera_id), now)
    return result


def camera_entitlement(
    session: Session, catalog: Catalog, camera: Camera, now: datetime
) -> Entitlement:
    return camera_entitlements(session, catalog, [camera], now)[camera.id]
