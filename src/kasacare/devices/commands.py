"""The device command outbox (issue 12 item 2): commands are written in the transaction of
the change that causes them and delivered after its commit, by MQTT (`devices.delivery`)
or to the camera's long poll (`GET /v1/device/commands`), never both at once and never by
two processes at once: a row is taken under its lock (`FOR UPDATE SKIP LOCKED`), and a
long poll leases what it hands out until the camera acknowledges it or the lease ends.
Delivery is at least once (a crash between the send and the commit sends again): a camera
acts on each command `id` once."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, exists, or_, select
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.devices.models import CommandKind, DeviceCommand
from kasacare.kit.backoff import backoff
from kasacare.kit.errors import NotFound

#: How long a long poll's commands are the poller's before another poll may get them.
LEASE = timedelta(seconds=60)


def issue(
    session: Session, camera: Camera, kind: CommandKind, now: datetime, **payload: Any
) -> DeviceCommand:
    """Queue a command for the camera, in the caller's transaction: it goes out only if
    that commits."""
    command = DeviceCommand(
        id=uuid.uuid4(),
        camera_id=camera.id,
        serial=camera.device.serial,
        kind=kind,
        payload=json.dumps(payload, sort_keys=True),
        created_at=now,
        delivered_at=None,
        lease_until=None,
        attempts=0,
        next_attempt_at=None,
    )
    session.add(command)
    session.flush()
    return command


def drop_unsent(session: Session, camera_id: uuid.UUID, kind: CommandKind) -> None:
    """Delete the camera's `kind` commands that no one has been handed: not delivered, never
    leased to a long poll (whose camera may still ack them), and not held by a publisher
    right now (skipped, as `next_to_publish` skips). For a command a newer one supersedes."""
    unsent = session.scalars(
        select(DeviceCommand)
        .where(
            DeviceCommand.camera_id == camera_id,
            DeviceCommand.kind == kind,
            DeviceCommand.delivered_at.is_(None),
            DeviceCommand.lease_until.is_(None),
        )
        .with_for_update(skip_locked=True)
    )
    for command in unsent:
        session.delete(command)
    session.flush()


def payload(command: DeviceCommand) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(command.payload)
    return body


def message(command: DeviceCommand) -> dict[str, Any]:
    """What the camera receives: `{id, kind, issued_at, ...payload}`."""
    body = payload(command)
    return {
        "id": str(command.id),
        "kind": command.kind.value,
        "issued_at": command.created_at.isoformat(),
        **body,
    }


def _open(now: datetime) -> Any:
    """Not delivered, and not leased to a poller or a publisher right now."""
    return (
        DeviceCommand.delivered_at.is_(None),
        or_(DeviceCommand.lease_until.is_(None), DeviceCommand.lease_until <= now),
    )


def any_open(connection: Connection, camera_id: uuid.UUID, now: datetime) -> bool:
    """A cheap read for a waiting long poll (on a read-only connection: no write lock)."""
    query = select(exists().where(DeviceCommand.camera_id == camera_id, *_open(now)))
    return bool(connection.scalar(query))


def lease(session: Session, camera_id: uuid.UUID, now: datetime) -> list[DeviceCommand]:
    """The camera's open commands, oldest first, leased to this poll for `LEASE`; rows
    another poll is taking right now are skipped, so no two polls get one command."""
    rows = list(
        session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.camera_id == camera_id, *_open(now))
            .order_by(DeviceCommand.created_at, DeviceCommand.id)
            .limit(50)
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        row.lease_until = now + LEASE
    return rows


def acknowledge(
    session: Session, camera_id: uuid.UUID, command_id: uuid.UUID, now: datetime
) -> DeviceCommand:
    """The camera has the command: it is never handed out again. Another camera's command
    is not found; a second ack changes nothing."""
    command = session.get(DeviceCommand, command_id, with_for_update=True)
    if command is None or command.camera_id != camera_id:
        raise NotFound("No such command")
    if command.delivered_at is None:
        command.delivered_at = now
    return command


def next_to_publish(session: Session, now: datetime) -> DeviceCommand | None:
    """The oldest command due for the broker, locked (skipping rows another publisher
    holds) until the caller's commit."""
    return session.scalar(
        select(DeviceCommand)
        .where(
            *_open(now),
            or_(DeviceCommand.next_attempt_at.is_(None), DeviceCommand.next_attempt_at <= now),
        )
        .order_by(DeviceCommand.created_at, DeviceCommand.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def published(command: DeviceCommand, now: datetime) -> None:
    command.delivered_at = now


def failed(command: DeviceCommand, now: datetime) -> None:
    command.attempts += 1
    command.next_attempt_at = now + retry_after(command.attempts)


#: A command is worth little late (a record_now lasts 2 minutes): the broker is tried again
#: within seconds, not on the jobs' minutes (`kit.backoff`).
FIRST_RETRY = timedelta(seconds=2)
LONGEST_RETRY = timedelta(seconds=30)


def retry_after(failures: int) -> timedelta:
    """2 s, 4 s, 8 s, 16 s, then every 30 s, never given up."""
    return backoff(failures, first=FIRST_RETRY, longest=LONGEST_RETRY)
