"""Camera request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from kasacare.entitlements.rules import Entitlement, EntitlementSource
from kasacare.kit.schemas import Instant

Serial = Annotated[str, Field(min_length=4, max_length=64, examples=["2024A1B2C3"])]
ModelId = Annotated[str, Field(min_length=1, max_length=32, examples=["KC120"])]
CameraName = Annotated[str, Field(max_length=100)]


class CameraFields(BaseModel):
    model: ModelId
    serial: Serial
    name: CameraName = ""


class CameraCreate(CameraFields):
    claim_code: Annotated[
        str | None,
        Field(
            max_length=32,
            examples=["K7MXQ2PA"],
            description="The code the camera shows during setup (issue 12); required unless "
            "the service runs with KASACARE_DEVICE_CLAIMS=off",
        ),
    ] = None


class CameraUpdate(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100, examples=["Front door"])]


class CameraImport(CameraFields):
    account_id: uuid.UUID
    setup_at: Instant


class EntitlementRead(BaseModel):
    source: EntitlementSource
    cloud_recording: bool
    history_hours: int
    manual_recording: bool
    clip_download: bool
    free_plan_ends_at: datetime | None

    @classmethod
    def of(cls, entitlement: Entitlement) -> EntitlementRead:
        return cls(
            source=entitlement.source,
            cloud_recording=entitlement.cloud_recording,
            history_hours=entitlement.history_hours,
            manual_recording=entitlement.manual_recording,
            clip_download=entitlement.clip_download,
            free_plan_ends_at=entitlement.free_plan_ends_at,
        )


class CameraRead(BaseModel):
    id: uuid.UUID
    model: str
    serial: str
    name: str
    setup_at: datetime
    created_at: datetime
    entitlement: EntitlementRead
    online: bool = Field(description="Heard from within the last 2 minutes (issue 12)")
    last_seen_at: datetime | None = Field(
        description="Its last MQTT event or long poll; null: never heard from"
    )


class CameraCreated(CameraRead):
    device_token: str = Field(description="Shown once: the camera's credential for /v1/device/*")


class CameraList(BaseModel):
    items: list[CameraRead]


class DeviceEntitlementRead(BaseModel):
    camera_id: uuid.UUID
    entitlement: EntitlementRead
