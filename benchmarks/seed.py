"""Seeding: accounts and cameras through the public API of an in-process app (so every row is
what the service itself writes), clips by bulk inserts straight into the migrated database, and
their bytes as files in the clip storage directory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, Table, insert

from kasacare.app import build_context, create_app
from kasacare.clips.models import Clip
from kasacare.clips.mp4 import mp4_like
from kasacare.config import Settings
from kasacare.context import AppContext
from kasacare.devices.codes import DeviceClaims
from kasacare.kit.clock import FixedClock
from kasacare.payments.sandbox import SandboxGateway

ADMIN_TOKEN = "bench-admin-token-0123456789"  # noqa: S105 (the throwaway service's)
PASSWORD = "bench owner password"  # noqa: S105 (a throwaway account in a throwaway database)
CHUNK = 5000
#: The bytes of one seeded clip file: one filesystem block. Both sides of every comparison
#: unlink the same files, so their size shifts both alike.
FILE_BYTES = mp4_like(4096)


@dataclass(frozen=True, slots=True)
class SeedClip:
    id: uuid.UUID
    camera_id: uuid.UUID
    started_at: datetime
    expires_at: datetime

    @property
    def storage_key(self) -> str:
        return f"{self.camera_id}/{self.id}.mp4"


@contextmanager
def service(database_url: str, clips_root: Path, now: datetime) -> Iterator[AppContext]:
    """The service's context on this database, with a fixed clock the caller moves."""
    settings = Settings(
        database_url=database_url,
        storage_url=f"file://{clips_root}",
        admin_token=SecretStr(ADMIN_TOKEN),
        jobs_interval_seconds=0,
        device_claims=DeviceClaims.OFF,  # seeded cameras are bound by serial, not provisioned
    )
    context = build_context(settings, clock=FixedClock(now))
    try:
        yield context
    finally:
        context.engine.dispose()
        if isinstance(context.gateway, SandboxGateway):
            context.gateway.dispose()


@contextmanager
def api(context: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(context), raise_server_exceptions=True) as client:
        yield client


def expect(response: Any, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.url} answered {response.status_code}: {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def owner(client: TestClient, email: str) -> dict[str, str]:
    expect(
        client.post("/v1/accounts", json={"email": email, "password": PASSWORD, "country": "US"}),
        201,
    )
    return sign_in(client, email)


def sign_in(client: TestClient, email: str) -> dict[str, str]:
    token = expect(client.post("/v1/auth/token", json={"email": email, "password": PASSWORD}), 200)
    return {"Authorization": f"Bearer {token['access_token']}"}


def cameras(client: TestClient, headers: dict[str, str], model: str, count: int) -> list[uuid.UUID]:
    ids = []
    for _ in range(count):
        body = expect(
            client.post(
                "/v1/cameras",
                json={"model": model, "serial": f"B{uuid.uuid4().hex[:20]}", "name": model},
                headers=headers,
            ),
            201,
        )
        ids.append(uuid.UUID(body["id"]))
    return ids


def card_on_file(client: TestClient, headers: dict[str, str], year: int) -> None:
    token = expect(
        client.post(
            "/v1/sandbox/tokens",
            json={"number": "4242424242424242", "exp_month": 12, "exp_year": year, "cvc": "123"},
        ),
        201,
    )
    expect(client.put("/v1/payment-method", json={"token": token["token"]}, headers=headers), 200)


def spread(
    camera_ids: Sequence[uuid.UUID],
    count: int,
    start: datetime,
    end: datetime,
    window: timedelta,
) -> list[SeedClip]:
    """`count` clips over the cameras, round robin, starting evenly in [start, end) (distinct
    instants per camera), each expiring `window` after it started."""
    step = (end - start) / count
    return [
        SeedClip(uuid.uuid4(), camera_ids[i % len(camera_ids)], at, at + window)
        for i in range(count)
        for at in (start + step * i,)
    ]


def insert_clips(engine: Engine, clips: Sequence[SeedClip], created_at: datetime) -> None:
    """Bulk insert (Core executemany, in chunks) of clip rows that are neither erased nor
    deleted."""
    table = cast(Table, Clip.__table__)
    with engine.begin() as connection:
        for offset in range(0, len(clips), CHUNK):
            connection.execute(
                insert(table),
                [
                    {
                        "id": clip.id,
                        "camera_id": clip.camera_id,
                        "started_at": clip.started_at,
                        "duration_s": 20,
                        "kind": "motion",
                        "size": len(FILE_BYTES),
                        "content_type": "video/mp4",
                        "storage_key": clip.storage_key,
                        "expires_at": clip.expires_at,
                        "erased_at": None,
                        "deleted_at": None,
                        "created_at": created_at,
                    }
                    for clip in clips[offset : offset + CHUNK]
                ],
            )


def write_files(root: Path, clips: Sequence[SeedClip]) -> None:
    """Each clip's bytes where the local disk storage keeps them (no fsync: seeding only)."""
    made: set[uuid.UUID] = set()
    for clip in clips:
        if clip.camera_id not in made:
            (root / str(clip.camera_id)).mkdir(parents=True, exist_ok=True)
            made.add(clip.camera_id)
        descriptor = os.open(
            root / str(clip.camera_id) / f"{clip.id}.mp4", os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        )
        try:
            os.write(descriptor, FILE_BYTES)
        finally:
            os.close(descriptor)


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))
