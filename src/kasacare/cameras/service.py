"""Camera use cases: register, import with the original setup, unbind, device tokens."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account, Role
from kasacare.billing.locks import lock_account
from kasacare.cameras.models import Camera, Device
from kasacare.cameras.repository import CameraRepository
from kasacare.catalog.schemas import Catalog
from kasacare.clips.retention import erase_camera
from kasacare.clips.service import HeldClip, held_clips
from kasacare.devices import broker_sync
from kasacare.devices.entitlement_push import remember
from kasacare.entitlements.rules import resolve_entitlement
from kasacare.kit.errors import KasaCareError, NotFound, Unauthorized, ValidationFailed
from kasacare.kit.security import new_token, token_digest
from kasacare.legacy.repository import LegacyRepository
from kasacare.subscriptions.errors import CameraSubscribed
from kasacare.subscriptions.repository import SubscriptionRepository

SERIAL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,63}$")


class UnknownModel(KasaCareError):
    code = "unknown_model"
    status = 422
    title = "Unknown camera model"


class CameraUnavailable(KasaCareError):
    """One neutral answer for a serial bound to any account, the caller's own included:
    it never tells whose (issue 12; replaces `camera_already_bound`, a probe for which
    serials were bound where)."""

    code = "camera_unavailable"
    status = 409
    title = "This camera cannot be added"


class ConfirmationRequired(KasaCareError):
    code = "confirmation_required"
    status = 409
    title = "Removing this camera erases its video history"


#: How many of the clips a removal erases the 409 lists (newest first); `clip_count` says all.
LISTED_IN_REFUSAL = 1000


@dataclass(frozen=True, slots=True)
class RegisteredCamera:
    camera: Camera
    device_token: str  # shown once, stored only as its digest


def normalize_serial(serial: str) -> str:
    normalized = serial.strip().upper()
    if not SERIAL_PATTERN.match(normalized):
        raise ValidationFailed("A serial is 4 to 64 letters, digits or dashes", field="serial")
    return normalized


def register(
    session: Session,
    catalog: Catalog,
    now: datetime,
    *,
    account: Account,
    model: str,
    serial: str,
    name: str,
    setup_at: datetime | None = None,
) -> RegisteredCamera:
    """Bind a camera to `account`. Its setup is `now` the first time the serial is seen,
    or the operator's `setup_at` on import; a known serial keeps its original setup (F2)."""
    camera_model = catalog.model(model)
    if camera_model is None:
        raise UnknownModel(f"{model!r} is not a Kasa camera model", models=sorted(catalog.models))
    if account.role is not Role.OWNER:
        raise ValidationFailed("Cameras belong to owner accounts", field="account_id")
    if setup_at is not None and setup_at > now:
        raise ValidationFailed("setup_at cannot be in the future", field="setup_at")
    serial = normalize_serial(serial)
    cameras = CameraRepository(session)
    device = _device_for(cameras, serial, camera_model.id, setup_at or now)
    if device.model != camera_model.id:
        raise ValidationFailed(
            f"Serial {serial} belongs to a {device.model}, not a {camera_model.id}", field="model"
        )
    if setup_at is not None and setup_at < device.setup_at:
        device.setup_at = setup_at  # the earliest known setup stands; never a later one
    bound = cameras.live_binding(device.id)
    if bound is not None:
        raise CameraUnavailable(
            f"Camera {serial} cannot be added: it is registered already. Remove it from the "
            "account that has it, or ask support"
        )
    token = new_token("kc_dev")
    camera = cameras.add(
        Camera(
            id=uuid.uuid4(),
            account_id=account.id,
            device_id=device.id,
            name=name.strip() or camera_model.id,
            device_token_digest=token_digest(token),
            created_at=now,
            unbound_at=None,
        )
    )
    camera.device = device
    # A new binding has no paid plan yet: what the camera may do from now on, so that the
    # first change of it is told (`devices.entitlement_push`).
    remember(camera, resolve_entitlement(camera_model, device.setup_at, None, now), now)
    broker_sync.want(cameras.session, serial, camera.id, now)  # its MQTT credential
    return RegisteredCamera(camera=camera, device_token=token)


def _device_for(cameras: CameraRepository, serial: str, model: str, setup_at: datetime) -> Device:
    """The device row for `serial`, locked, created on first sight (race-safe)."""
    device = cameras.device_by_serial(serial, for_update=True)
    if device is not None:
        return device
    try:
        with cameras.session.begin_nested():
            return cameras.add_device(
                Device(id=uuid.uuid4(), serial=serial, model=model, setup_at=setup_at)
            )
    except IntegrityError:
        # Another transaction created it first; take theirs (its setup is the original).
        device = cameras.device_by_serial(serial, for_update=True)
        assert device is not None
        return device


def get_owned(session: Session, account: Account, camera_id: uuid.UUID) -> Camera:
    camera = CameraRepository(session).owned(account.id, camera_id)
    if camera is None:
        raise NotFound("No such camera")
    return camera


def list_owned(session: Session, account: Account) -> list[Camera]:
    return CameraRepository(session).list_owned(account.id)


def rename(session: Session, account: Account, camera_id: uuid.UUID, name: str) -> Camera:
    """Issue 13: the owner names a camera (1 to 100 characters, no control characters)."""
    control = any(not c.isprintable() and not c.isspace() for c in name)
    name = " ".join(name.split())  # tabs and runs of spaces become one space
    if control or not 1 <= len(name) <= 100:
        raise ValidationFailed("A camera's name has 1 to 100 printable characters", field="name")
    camera = get_owned(session, account, camera_id)
    camera.name = name
    return camera


@dataclass(frozen=True, slots=True)
class Removal:
    """What removing a camera does: the clips it erases (C6), newest first."""

    camera: Camera
    erased: list[HeldClip]


def plan_unbind(session: Session, now: datetime, account: Account, camera_id: uuid.UUID) -> Removal:
    """The review of a removal; refuses a camera a subscription covers (C6): remove it from
    the plan first."""
    camera = get_owned(session, account, camera_id)
    if SubscriptionRepository(session).covering([camera.id]) or LegacyRepository(session).covering(
        [camera.id]
    ):
        raise CameraSubscribed(
            "The camera is covered by your subscription: remove it from the plan first"
        )
    return Removal(camera, held_clips(session, camera.id, now))


def unbind(
    session: Session, now: datetime, account: Account, camera_id: uuid.UUID, *, confirmed: bool
) -> Removal:
    """Remove the camera from the account; its device keeps its original setup (F2), and
    every clip it holds is erased (C6). Unless `confirmed`, a camera that still holds clips
    is refused (409 `confirmation_required`, listing them): the owner sees what goes first.
    Takes the account's billing lock, so an unbind and a plan change on the same camera run
    one after the other (`billing.locks`)."""
    lock_account(session, account.id)
    removal = plan_unbind(session, now, account, camera_id)
    if removal.erased and not confirmed:
        raise ConfirmationRequired(
            f"Removing the camera erases {len(removal.erased)} clips: "
            "send confirm=true to remove it anyway",
            clip_count=len(removal.erased),
            clips=[
                {"id": str(c.id), "started_at": c.started_at.isoformat(), "kind": c.kind.value}
                for c in removal.erased[:LISTED_IN_REFUSAL]
            ],
        )
    removal.camera.unbound_at = now
    erase_camera(session, removal.camera.id, now)
    return removal


def by_device_token(session: Session, token: str) -> Camera:
    camera = CameraRepository(session).by_device_token(token_digest(token))
    if camera is None:
        raise Unauthorized("Unknown or revoked device token")
    return camera
