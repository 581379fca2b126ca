"""Device identity routes: the operator provisions devices, a device asks for a claim code
with its secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from kasacare.accounts.dependencies import Operator
from kasacare.context import Context, DbSession, Now
from kasacare.devices import service
from kasacare.devices.schemas import ClaimCodeRead, DeviceProvision, ProvisionedDeviceRead
from kasacare.kit.errors import Unauthorized
from kasacare.kit.http import problem_responses

router = APIRouter(tags=["device"])

device_basic = HTTPBasic(
    auto_error=False, description="The device's serial and factory secret", scheme_name="Device"
)


@router.post(
    "/v1/admin/devices",
    status_code=status.HTTP_201_CREATED,
    response_model=ProvisionedDeviceRead,
    responses=problem_responses(401, 403, 409, 422),
    tags=["admin"],
)
def provision_device(
    body: DeviceProvision, _operator: Operator, context: Context, session: DbSession, now: Now
) -> ProvisionedDeviceRead:
    """The factory's record of one device (bulk: `kasacare devices import FILE.csv`)."""
    record = service.checked_record(
        context.catalog,
        serial=body.serial,
        model=body.model,
        hardware_version=body.hardware_version,
        secret=body.device_secret.get_secret_value(),
    )
    service.provision(session, now, [record])
    session.commit()
    return ProvisionedDeviceRead(
        serial=record.serial,
        model=record.model,
        hardware_version=record.hardware_version,
        provisioned_at=now,
    )


@router.post(
    "/v1/device/claim-codes",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimCodeRead,
    responses=problem_responses(401),
)
def claim_code(
    credentials: Annotated[HTTPBasicCredentials | None, Depends(device_basic)],
    session: DbSession,
    now: Now,
) -> ClaimCodeRead:
    """A new claim code (valid 10 minutes, once); the device's earlier codes stop working."""
    if credentials is None:
        raise Unauthorized("Send HTTP Basic with the device's serial and secret")
    device = service.authenticate(session, credentials.username, credentials.password)
    issued = service.issue_claim_code(session, now, device)
    session.commit()
    return ClaimCodeRead(code=issued.code, expires_at=issued.expires_at)
