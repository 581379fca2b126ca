"""Manual recording end to end (issue 12 item 3, SPEC V5): the owner's request, written with
its `record_now` command (`devices.commands`); the camera's answer; its clip linked to the
request. The state follows from the timestamps (`clips.manual_rules`). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.manual_rules import OPEN, RequestState, answer_until, request_state
from kasacare.clips.models import ManualRecording
from kasacare.clips.service import recording_entitlement
from kasacare.devices import commands
from kasacare.devices.models import CommandKind
from kasacare.kit.errors import NotFound


def request_recording(
    session: Session, catalog: Catalog, camera: Camera, now: datetime
) -> ManualRecording:
    """V5, Q15: needs cloud recording (free plan or paid); the camera learns of it through
    the command outbox, after the commit."""
    recording_entitlement(session, catalog, camera, now, manual=True)
    request = ManualRecording(camera_id=camera.id, requested_at=now)
    session.add(request)
    session.flush()
    commands.issue(
        session,
        camera,
        CommandKind.RECORD_NOW,
        now,
        request_id=str(request.id),
        until=answer_until(now).isoformat(),
    )
    return request


def state_of(request: ManualRecording, now: datetime) -> RequestState:
    return request_state(
        request.requested_at, request.recording_started_at, request.uploaded_at, now
    )


def camera_request(session: Session, camera: Camera, request_id: uuid.UUID) -> ManualRecording:
    """The camera's request; another camera's (or account's) answers 404."""
    request = session.get(ManualRecording, request_id)
    if request is None or request.camera_id != camera.id:
        raise NotFound("No such manual recording")
    return request


def recording_started(
    session: Session, camera_id: uuid.UUID, request_id: object, now: datetime
) -> bool:
    """The camera says it records for `request_id` (its event, or its ack of the command):
    True when that moved an open request of this camera to `recording`."""
    try:
        wanted = uuid.UUID(str(request_id))
    except ValueError:
        return False
    request = session.get(ManualRecording, wanted, with_for_update=True)
    if request is None or request.camera_id != camera_id:
        return False
    if state_of(request, now) is not RequestState.SENT:
        return False
    request.recording_started_at = now
    return True


def link_clips(
    connection: Connection,
    links: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
    now: datetime,
) -> None:
    """Link new manual clips to the requests they answer, `(request_id, camera_id,
    clip_id)` each, in the caller's transaction (the clip's insert): only a request of the
    same camera, still open and without a clip; any other is left alone (the clip stays, a
    manual clip of its own)."""
    if not links:
        return
    rows = connection.execute(
        select(
            ManualRecording.id,
            ManualRecording.camera_id,
            ManualRecording.requested_at,
            ManualRecording.recording_started_at,
            ManualRecording.uploaded_at,
        )
        .where(ManualRecording.id.in_([request_id for request_id, _, _ in links]))
        .with_for_update()
    )
    requests = {row.id: row for row in rows}
    for request_id, camera_id, clip_id in links:
        row = requests.get(request_id)
        if row is None or row.camera_id != camera_id:
            continue
        if request_state(row.requested_at, row.recording_started_at, row.uploaded_at, now) in OPEN:
            connection.execute(
                update(ManualRecording)
                .where(ManualRecording.id == request_id, ManualRecording.clip_id.is_(None))
                .values(clip_id=clip_id, uploaded_at=now)
            )
