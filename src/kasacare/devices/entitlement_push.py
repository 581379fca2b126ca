"""Plan changes pushed to cameras (issue 12 item 4): every change of a camera's entitlement
writes an `entitlement_changed {entitlement}` command (`devices.commands`) in the
transaction of the change, so a camera stops (or starts) uploading at once instead of
learning it from a 403.

Each camera keeps the entitlement it was last told of (`Camera.pushed_entitlement`, set
when it is bound). Changes are told where they are applied, not in each endpoint:
- `clips.retention.reconcile_account`, the step every plan change ends with (subscribe,
  cancel, plan or camera change, cycle change, dunning end, auto-renew end, legacy
  terminations and migrations, support resolutions): each live camera of the account whose
  entitlement now differs from the one it was told of gets a command;
- `clips.retention.erase_camera`, the step of every unbinding (owner, support, account
  deletion): `{"entitlement": null}`, stop uploading;
- the free plan's end, which no transaction causes, and a trial's end (the renewal that
  converts it changes the plan without `reconcile_account`): `push_due`, after the due
  renewals, looks again at cameras whose `entitlement_recheck_at` has come.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from kasacare.cameras.models import Camera
from kasacare.cameras.schemas import EntitlementRead
from kasacare.catalog.schemas import Catalog
from kasacare.devices import broker_sync, commands
from kasacare.devices.models import CommandKind
from kasacare.entitlements.rules import Entitlement, EntitlementSource
from kasacare.entitlements.service import camera_entitlements
from kasacare.kit.db import session_scope
from kasacare.subscriptions.repository import SubscriptionRepository

log = logging.getLogger(__name__)

#: Cameras a transaction of the job looks at.
JOB_BATCH = 200


def body(entitlement: Entitlement | None) -> dict[str, Any] | None:
    """What the command carries: the API's entitlement (`GET /v1/cameras`), or None for a
    camera that is no longer bound."""
    if entitlement is None:
        return None
    read: dict[str, Any] = EntitlementRead.of(entitlement).model_dump(mode="json")
    return read


def _text(entitlement: Entitlement | None) -> str:
    return json.dumps(body(entitlement), sort_keys=True)


def remember(
    camera: Camera, entitlement: Entitlement, now: datetime, trial_end: datetime | None = None
) -> None:
    """The camera has (or was told of) `entitlement`; look again when time alone changes
    it: its free plan's end, or its trial's (the renewal that ends a trial, `renewals`,
    changes the plan without a `reconcile_account`; the job runs after the renewals)."""
    camera.pushed_entitlement = _text(entitlement)
    moments = [entitlement.free_plan_ends_at]
    if entitlement.source is EntitlementSource.TRIAL:
        moments.append(trial_end)
    later = [moment for moment in moments if moment is not None and moment > now]
    camera.entitlement_recheck_at = min(later, default=None)


def push_changed(
    session: Session, catalog: Catalog, cameras: Sequence[Camera], now: datetime
) -> int:
    """An `entitlement_changed` for each live camera (its `device` loaded) whose entitlement
    at `now` is not the one it was told of; answers how many. In the caller's transaction."""
    live = [camera for camera in cameras if camera.unbound_at is None]
    if not live:
        return 0
    entitlements = camera_entitlements(session, catalog, live, now)
    on_trial = [c.id for c in live if entitlements[c.id].source is EntitlementSource.TRIAL]
    trial_ends = {
        camera_id: subscription.trial_end
        for camera_id, subscription in SubscriptionRepository(session).covering(on_trial)
    }
    told = 0
    for camera in live:
        entitlement = entitlements[camera.id]
        if camera.pushed_entitlement == _text(entitlement):
            continue
        commands.issue(
            session, camera, CommandKind.ENTITLEMENT_CHANGED, now, entitlement=body(entitlement)
        )
        remember(camera, entitlement, now, trial_ends.get(camera.id))
        told += 1
    return told


def push_unbound(session: Session, camera_id: uuid.UUID, now: datetime) -> None:
    """The camera is no longer bound: it stops uploading (its device token is revoked
    already), and its broker credential is revoked after the commit (`broker_sync`), so
    over MQTT it hears this just before the broker disconnects it. Told once: an
    entitlement it was not handed yet is dropped, such as the free plan a cancel in the
    same transaction told it of just before (force-unbind, account deletion)."""
    camera = session.scalars(
        select(Camera).options(joinedload(Camera.device)).where(Camera.id == camera_id)
    ).one()
    commands.drop_unsent(session, camera.id, CommandKind.ENTITLEMENT_CHANGED)
    commands.issue(session, camera, CommandKind.ENTITLEMENT_CHANGED, now, entitlement=None)
    camera.pushed_entitlement = _text(None)
    camera.entitlement_recheck_at = None
    broker_sync.want(session, camera.device.serial, None, now)


def push_due(sessions: sessionmaker[Session], catalog: Catalog, now: datetime) -> int:
    """The job: cameras whose free plan ended by `now` are told, a batch a transaction,
    each camera locked (skipping those a plan change holds: it tells them itself)."""
    told = 0
    while True:
        with session_scope(sessions) as session:
            cameras = list(
                session.scalars(
                    select(Camera)
                    .options(joinedload(Camera.device))
                    .where(
                        Camera.unbound_at.is_(None),
                        Camera.entitlement_recheck_at.is_not(None),
                        Camera.entitlement_recheck_at <= now,
                    )
                    .order_by(Camera.entitlement_recheck_at, Camera.id)
                    .limit(JOB_BATCH)
                    .with_for_update(of=Camera, skip_locked=True)
                )
            )
            told += push_changed(session, catalog, cameras, now)
            for camera in cameras:  # unchanged (a paid plan covers it): no need to look again
                if (
                    camera.entitlement_recheck_at is not None
                    and camera.entitlement_recheck_at <= now
                ):
                    camera.entitlement_recheck_at = None
        if len(cameras) < JOB_BATCH:
            return told
