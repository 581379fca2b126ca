"""The calling camera, by its device token (`Authorization: Device <token>`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader

from kasacare.cameras.models import Camera
from kasacare.cameras.service import by_device_token
from kasacare.kit.errors import Unauthorized
from kasacare.kit.http import DbSession

device_header = APIKeyHeader(
    name="Authorization",
    scheme_name="DeviceToken",
    description="'Device <token>' with the token shown once when the camera was registered",
    auto_error=False,
)


def current_device(
    session: DbSession, header: Annotated[str | None, Depends(device_header)]
) -> Camera:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "device" or not token.strip():
        raise Unauthorized("Send 'Authorization: Device <device token>'")
    return by_device_token(session, token.strip())


DeviceCamera = Annotated[Camera, Depends(current_device)]
