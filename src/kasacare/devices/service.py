"""Device identity use cases (issue 12 item 1): provision, authenticate a device by its
secret, issue a claim code, redeem one when an owner binds the camera."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.cameras import service as cameras
from kasacare.catalog.schemas import Catalog
from kasacare.devices import codes
from kasacare.devices.codes import DeviceClaims
from kasacare.devices.models import ClaimCode, ProvisionedDevice
from kasacare.devices.repository import DeviceRepository
from kasacare.kit.errors import KasaCareError, TooManyAttempts, Unauthorized, ValidationFailed
from kasacare.kit.security import constant_time_equal
from kasacare.kit.throttle import FORGET_AFTER
from kasacare.kit.throttle_rows import wait_until


class ClaimCodeInvalid(KasaCareError):
    """Raised after the failure was counted in the session: the caller commits it, then
    answers (like a failed sign-in)."""

    code = "claim_code_invalid"
    status = 403
    title = "The claim code is not valid"


class DeviceAlreadyProvisioned(KasaCareError):
    code = "device_already_provisioned"
    status = 409
    title = "A device with this serial is provisioned already"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One device of the factory's record, checked (`checked_record`)."""

    serial: str
    model: str
    hardware_version: str
    secret: str


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str  # shown once, to the device; kept only as its digest
    expires_at: datetime


def checked_record(
    catalog: Catalog, *, serial: str, model: str, hardware_version: str, secret: str
) -> DeviceRecord:
    """The record with its serial normalized, or ValidationFailed/UnknownModel naming the
    bad field."""
    camera_model = catalog.model(model)
    if camera_model is None:
        raise cameras.UnknownModel(
            f"{model!r} is not a Kasa camera model", models=sorted(catalog.models)
        )
    hardware_version = hardware_version.strip()
    if not 1 <= len(hardware_version) <= 32:
        raise ValidationFailed(
            "A hardware version has 1 to 32 characters", field="hardware_version"
        )
    if len(secret) < codes.SECRET_MIN_LENGTH:
        raise ValidationFailed(
            f"A device secret has at least {codes.SECRET_MIN_LENGTH} random characters",
            field="device_secret",
        )
    return DeviceRecord(cameras.normalize_serial(serial), camera_model.id, hardware_version, secret)


def provision(session: Session, now: datetime, records: list[DeviceRecord]) -> int:
    """Add the factory's records; a serial provisioned already (or twice in `records`)
    raises DeviceAlreadyProvisioned naming it, and nothing is added by the caller's
    rollback. Answers how many were added."""
    devices = DeviceRepository(session)
    serials = [record.serial for record in records]
    seen: set[str] = set()
    for serial in serials:
        if serial in seen:
            raise DeviceAlreadyProvisioned(f"Serial {serial} appears twice", serial=serial)
        seen.add(serial)
    for start in range(0, len(serials), 500):
        if taken := devices.known_serials(serials[start : start + 500]):
            first = min(taken)
            raise DeviceAlreadyProvisioned(f"Serial {first} is provisioned already", serial=first)
    for record in records:
        devices.add(
            ProvisionedDevice(
                id=uuid.uuid4(),
                serial=record.serial,
                model=record.model,
                hardware_version=record.hardware_version,
                secret_digest=codes.secret_digest(record.secret),
                provisioned_at=now,
            )
        )
    session.flush()
    return len(records)


def authenticate(session: Session, serial: str, secret: str) -> ProvisionedDevice:
    """The provisioned device `serial` if `secret` is its secret (HTTP Basic)."""
    device = DeviceRepository(session).by_serial(serial.strip().upper())
    digest = codes.secret_digest(secret)
    if device is None or not constant_time_equal(device.secret_digest, digest):
        raise Unauthorized("Unknown serial or wrong device secret")
    return device


def issue_claim_code(session: Session, now: datetime, device: ProvisionedDevice) -> IssuedCode:
    """A new code for the device, valid `codes.VALID_FOR`; its earlier unused codes are
    withdrawn, so at most one code per device can be guessed at a time."""
    devices = DeviceRepository(session)
    devices.withdraw_codes(device.id)
    code = codes.new_code()
    expires_at = now + codes.VALID_FOR
    devices.add_code(
        ClaimCode(
            id=uuid.uuid4(),
            device_id=device.id,
            code_digest=codes.code_digest(device.serial, code),
            created_at=now,
            expires_at=expires_at,
            used_at=None,
        )
    )
    return IssuedCode(code=code, expires_at=expires_at)


def redeem(
    session: Session, now: datetime, account_id: uuid.UUID, serial: str, code: str
) -> ProvisionedDevice:
    """Use the device's live claim code `code`, once. An unprovisioned serial and a wrong,
    expired or used code are one refusal (ClaimCodeInvalid), counted against the serial and
    the account under their locked throttle rows (`kit.throttle_rows`); past the free
    failures a try waits the growing delay (TooManyAttempts) without being checked."""
    devices = DeviceRepository(session)
    keys = {
        codes.serial_key(serial): codes.FREE_PER_SERIAL,
        codes.account_key(account_id): codes.FREE_PER_ACCOUNT,
    }
    rows = devices.lock_throttles(keys)
    if (allowed_at := wait_until(rows, keys, now)) is not None:
        seconds = math.ceil((allowed_at - now).total_seconds())
        raise TooManyAttempts(
            f"Too many wrong claim codes; try again in {seconds} seconds",
            retry_after_seconds=seconds,
        )
    device = devices.by_serial(serial)
    claim = devices.live_code(device.id, codes.code_digest(serial, code), now) if device else None
    if device is None or claim is None:
        for row in rows.values():
            row.fail(now)
        session.flush()
        devices.forget_throttles(now - FORGET_AFTER)
        raise ClaimCodeInvalid(
            "The claim code is wrong, used or expired: the camera shows a new one during setup"
        )
    claim.used_at = now
    devices.forget_throttles(now - FORGET_AFTER, [codes.serial_key(serial)])
    return device


def bind_camera(
    session: Session,
    catalog: Catalog,
    now: datetime,
    claims: DeviceClaims,
    *,
    account: Account,
    model: str,
    serial: str,
    name: str,
    claim_code: str | None,
) -> cameras.RegisteredCamera:
    """An owner binds a camera: with claims required, only with the device's claim code
    (the serial must be provisioned); with claims off (development), by serial alone."""
    if claims is DeviceClaims.REQUIRED:
        if not claim_code or not claim_code.strip():
            raise ClaimCodeInvalid("A claim code is required: the camera shows it during setup")
        serial = cameras.normalize_serial(serial)
        device = redeem(session, now, account.id, serial, claim_code)
        if device.model != model.strip().upper():
            raise ValidationFailed(f"Serial {serial} is a {device.model}", field="model")
    return cameras.register(
        session, catalog, now, account=account, model=model, serial=serial, name=name
    )
