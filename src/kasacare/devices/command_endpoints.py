"""The camera's command channel without a broker (issue 12 item 2): a long poll on the
command outbox and its acknowledgement; and the camera's broker credentials when there is
one. Device token auth, as the clip upload."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from kasacare.cameras.dependencies import DeviceCamera, DeviceTokenDigest
from kasacare.cameras.repository import CameraRepository
from kasacare.clips import manual
from kasacare.context import AppContext, Context, DbSession, Now
from kasacare.devices import broker, commands, presence
from kasacare.devices.broker_sync import MQTT_SECRET
from kasacare.devices.models import CommandKind
from kasacare.devices.schemas import CommandList, MqttCredentials
from kasacare.kit.db import READ_ONLY, session_scope
from kasacare.kit.errors import KasaCareError, Unauthorized
from kasacare.kit.http import problem_responses
from kasacare.kit.secrets import shared_secret

router = APIRouter(tags=["device"])

#: How often a waiting long poll looks for a new command (one indexed read).
POLL_EVERY = 0.2


class MqttNotConfigured(KasaCareError):
    code = "mqtt_not_configured"
    status = 404
    title = "This service has no MQTT broker"


def _take(context: AppContext, camera_id: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    with context.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        if not commands.any_open(connection, camera_id, now):
            return []
    with session_scope(context.sessions) as session:
        return [commands.message(c) for c in commands.lease(session, camera_id, now)]


def _seen(context: AppContext, digest: str, now: datetime) -> uuid.UUID:
    """The polling camera, recorded as seen when that is old (`presence`), in a short
    transaction of its own: the poll holds no transaction (no SQLite lock) while it waits."""
    with session_scope(context.sessions) as session:
        camera = CameraRepository(session).by_device_token(digest)
        if camera is None:
            raise Unauthorized("Unknown or revoked device token")
        if presence.needs_touch(camera.last_seen_at, now):
            camera.last_seen_at = now
        return camera.id


@router.get("/v1/device/commands", response_model=CommandList, responses=problem_responses(401))
async def poll_commands(
    digest: DeviceTokenDigest,
    context: Context,
    wait: Annotated[
        int, Query(ge=0, le=60, description="Seconds to wait for a command when none is open")
    ] = 0,
) -> CommandList:
    """The camera's open commands, oldest first, at once if there are any, else as soon as
    one is issued within `wait` seconds (an empty list after that). What this answers is
    leased to this poll for 60 s: acknowledge each with `POST /v1/device/commands/{id}/ack`,
    or it is handed out again after the lease."""
    camera_id = await run_in_threadpool(_seen, context, digest, context.clock.now())
    deadline = time.monotonic() + wait
    while True:
        items = await run_in_threadpool(_take, context, camera_id, context.clock.now())
        if items or time.monotonic() >= deadline:
            return CommandList(items=items)
        await asyncio.sleep(POLL_EVERY)


@router.post(
    "/v1/device/commands/{command_id}/ack",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 404),
)
def acknowledge_command(
    command_id: uuid.UUID, camera: DeviceCamera, session: DbSession, now: Now
) -> Response:
    """The camera has the command: it is never handed out again. The ack of a `record_now`
    is the camera's answer (its request is `recording`, issue 12 item 3)."""
    command = commands.acknowledge(session, camera.id, command_id, now)
    if command.kind is CommandKind.RECORD_NOW:
        manual.recording_started(session, camera.id, commands.payload(command)["request_id"], now)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/device/mqtt-credentials",
    response_model=MqttCredentials,
    responses=problem_responses(401, 404),
)
def mqtt_credentials(camera: DeviceCamera, context: Context, session: DbSession) -> MqttCredentials:
    """The camera's broker user (its serial) and password, valid while it stays bound."""
    if context.settings.mqtt_url is None:
        raise MqttNotConfigured("Poll GET /v1/device/commands instead")
    target = broker.parse_mqtt_url(context.settings.mqtt_url.get_secret_value())
    key = shared_secret(session, MQTT_SECRET)
    session.commit()  # the secret, on the very first call
    serial = camera.device.serial
    return MqttCredentials(
        host=target.host,
        port=target.port,
        username=serial,
        password=broker.camera_password(key, camera.id),
        commands_topic=broker.commands_topic(serial),
        events_topic=broker.events_topic(serial),
    )
