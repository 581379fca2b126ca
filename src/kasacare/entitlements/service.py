"""Entitlements of stored cameras: the pure rules fed with what the database holds."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.entitlements.rules import Entitlement, PaidCoverage, resolve_entitlement


def paid_coverage(
    session: Session, camera_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, PaidCoverage]:
    """The paid plan covering each camera at `now`. No subscription domain exists yet, so
    no camera is covered; the subscriptions domain answers this once it lands."""
    del session, camera_ids, now
    return {}


def camera_entitlements(
    session: Session, catalog: Catalog, cameras: list[Camera], now: datetime
) -> dict[uuid.UUID, Entitlement]:
    """Each camera's entitlement at `now`, with one coverage query for all of them."""
    coverage = paid_coverage(session, [camera.id for camera in cameras], now)
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
