"""Device identity request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr

from kasacare.cameras.schemas import ModelId, Serial


class DeviceProvision(BaseModel):
    serial: Serial
    model: ModelId
    hardware_version: Annotated[str, Field(min_length=1, max_length=32, examples=["2.1"])]
    device_secret: Annotated[
        SecretStr,
        Field(
            min_length=32,
            max_length=256,
            description="The random secret the factory wrote into the device; kept as a digest",
        ),
    ]


class ProvisionedDeviceRead(BaseModel):
    serial: str
    model: str
    hardware_version: str
    provisioned_at: datetime


class ClaimCodeRead(BaseModel):
    code: str = Field(description="8 characters; the owner binds the camera with it, once")
    expires_at: datetime


class CommandList(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="Each {id, kind, issued_at, ...}: record_now {request_id, until}, "
        "entitlement_changed {entitlement}"
    )


class MqttCredentials(BaseModel):
    host: str
    port: int
    username: str = Field(description="The camera's serial")
    password: str
    commands_topic: str
    events_topic: str
