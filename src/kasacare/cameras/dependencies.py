"""The calling camera, by its device token (`Authorization: Device <token>`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader

from kasacare.cameras.models import Camera
from kasacare.cameras.service import by_device_token
from kasacare.context import DbSession
from kasacare.kit.errors import Unauthorized
from kasacare.kit.security import token_digest

device_header = APIKeyHeader(
    name="Authorization",
    scheme_name="DeviceToken",
    description="'Device <token>' with the token shown once when the camera was registered",
    auto_error=False,
)


def _device_token(header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "device" or not token.strip():
        raise Unauthorized("Send 'Authorization: Device <device token>'")
    return token.strip()


def current_device(
    session: DbSession, header: Annotated[str | None, Depends(device_header)]
) -> Camera:
    return by_device_token(session, _device_token(header))


async def device_token_digest(header: Annotated[str | None, Depends(device_header)]) -> str:
    """The digest of a well-formed device token, not yet looked up: for routes that look it
    up themselves, with other work (clip ingest). A coroutine: no thread-pool hop."""
    return token_digest(_device_token(header))


DeviceCamera = Annotated[Camera, Depends(current_device)]
DeviceTokenDigest = Annotated[str, Depends(device_token_digest)]
