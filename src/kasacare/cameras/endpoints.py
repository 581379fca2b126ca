"""Camera routes for owners, the camera itself, and the operator's import."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from kasacare.accounts.dependencies import Operator, Owner
from kasacare.accounts.repository import AccountRepository
from kasacare.cameras import service
from kasacare.cameras.dependencies import DeviceCamera
from kasacare.cameras.models import Camera
from kasacare.cameras.schemas import (
    CameraCreate,
    CameraCreated,
    CameraImport,
    CameraList,
    CameraRead,
    CameraUpdate,
    DeviceEntitlementRead,
    EntitlementRead,
)
from kasacare.catalog.schemas import Catalog
from kasacare.context import Context, DbSession, Now
from kasacare.devices import service as devices
from kasacare.devices.presence import is_online
from kasacare.entitlements.rules import Entitlement
from kasacare.entitlements.service import camera_entitlement, camera_entitlements
from kasacare.kit.errors import NotFound
from kasacare.kit.http import problem_responses

router = APIRouter(tags=["cameras"])


def _read(camera: Camera, entitlement: Entitlement, now: datetime) -> CameraRead:
    return CameraRead(
        online=is_online(camera.last_seen_at, now),
        last_seen_at=camera.last_seen_at,
        id=camera.id,
        model=camera.device.model,
        serial=camera.device.serial,
        name=camera.name,
        setup_at=camera.device.setup_at,
        created_at=camera.created_at,
        entitlement=EntitlementRead.of(entitlement),
    )


def _created(
    session: Session, catalog: Catalog, now: Now, registered: service.RegisteredCamera
) -> CameraCreated:
    entitlement = camera_entitlement(session, catalog, registered.camera, now)
    return CameraCreated(
        **_read(registered.camera, entitlement, now).model_dump(),
        device_token=registered.device_token,
    )


@router.post(
    "/v1/cameras",
    status_code=status.HTTP_201_CREATED,
    response_model=CameraCreated,
    responses=problem_responses(401, 403, 409, 422, 429),
)
def register_camera(
    body: CameraCreate, owner: Owner, context: Context, session: DbSession, now: Now
) -> CameraCreated:
    """Bind a camera with the claim code it shows during setup: 403 `claim_code_invalid`
    for a wrong, used or expired code or a serial the factory never provisioned; 409
    `camera_unavailable` for a serial bound to any account; 429 after repeated failures."""
    try:
        registered = devices.bind_camera(
            session,
            context.catalog,
            now,
            context.settings.device_claims,
            account=owner,
            model=body.model,
            serial=body.serial,
            name=body.name,
            claim_code=body.claim_code,
        )
    except devices.ClaimCodeInvalid:
        session.commit()  # the failure is counted even though the call fails
        raise
    created = _created(session, context.catalog, now, registered)
    session.commit()
    return created


@router.get("/v1/cameras", response_model=CameraList, responses=problem_responses(401, 403))
def list_cameras(owner: Owner, context: Context, session: DbSession, now: Now) -> CameraList:
    cameras = service.list_owned(session, owner)
    entitlements = camera_entitlements(session, context.catalog, cameras, now)
    return CameraList(items=[_read(camera, entitlements[camera.id], now) for camera in cameras])


@router.get(
    "/v1/cameras/{camera_id}", response_model=CameraRead, responses=problem_responses(401, 403, 404)
)
def get_camera(
    camera_id: uuid.UUID, owner: Owner, context: Context, session: DbSession, now: Now
) -> CameraRead:
    camera = service.get_owned(session, owner, camera_id)
    return _read(camera, camera_entitlement(session, context.catalog, camera, now), now)


@router.patch(
    "/v1/cameras/{camera_id}",
    response_model=CameraRead,
    responses=problem_responses(401, 403, 404, 422),
)
def rename_camera(
    camera_id: uuid.UUID,
    body: CameraUpdate,
    owner: Owner,
    context: Context,
    session: DbSession,
    now: Now,
) -> CameraRead:
    """Rename one of the owner's cameras (404 for any other camera)."""
    camera = service.rename(session, owner, camera_id, body.name)
    read = _read(camera, camera_entitlement(session, context.catalog, camera, now), now)
    session.commit()
    return read


@router.delete(
    "/v1/cameras/{camera_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409),
)
def unbind_camera(
    camera_id: uuid.UUID,
    owner: Owner,
    session: DbSession,
    now: Now,
    confirm: Annotated[
        bool, Query(description="Remove it even though it erases the clips the camera holds")
    ] = False,
) -> Response:
    """C6: unbinding erases every clip of the camera. A camera that still holds clips needs
    `confirm=true`; without it: 409 `confirmation_required` with `clip_count` and `clips`
    (newest first, at most 1000: `id`, `started_at`, `kind`), and nothing changes."""
    service.unbind(session, now, owner, camera_id, confirmed=confirm)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/device/entitlement",
    response_model=DeviceEntitlementRead,
    responses=problem_responses(401),
    tags=["device"],
)
def device_entitlement(
    camera: DeviceCamera, context: Context, session: DbSession, now: Now
) -> DeviceEntitlementRead:
    entitlement = camera_entitlement(session, context.catalog, camera, now)
    return DeviceEntitlementRead(camera_id=camera.id, entitlement=EntitlementRead.of(entitlement))


@router.post(
    "/v1/admin/cameras",
    status_code=status.HTTP_201_CREATED,
    response_model=CameraCreated,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["admin"],
)
def import_camera(
    body: CameraImport, _operator: Operator, context: Context, session: DbSession, now: Now
) -> CameraCreated:
    """Import an existing camera with its original setup time (SPEC F2)."""
    account = AccountRepository(session).get(body.account_id)
    if account is None:
        raise NotFound("No such account")
    registered = service.register(
        session,
        context.catalog,
        now,
        account=account,
        model=body.model,
        serial=body.serial,
        name=body.name,
        setup_at=body.setup_at,
    )
    created = _created(session, context.catalog, now, registered)
    session.commit()
    return created
