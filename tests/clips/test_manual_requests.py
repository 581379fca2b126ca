"""Manual recording end to end (issue 12 item 3, SPEC V5): the request's states, sent,
recording, uploaded, expired, through the API, the long poll's ack, the camera's MQTT event
and its clip posted with the request's id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.devices.events import record_event
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import session_scope
from tests.factories import VIDEO, owner, register_camera

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)


@pytest.fixture
def at_now(clock: FixedClock) -> FixedClock:
    clock.set(NOW)
    return clock


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _upload(client: TestClient, device: dict[str, str], started_at: datetime, **fields: str) -> Any:
    return client.post(
        "/v1/device/clips",
        data={"started_at": _iso(started_at), "duration_s": "20", "kind": "manual", **fields},
        files={"video": ("clip.mp4", VIDEO, "video/mp4")},
        headers=device,
    )


def _camera(client: TestClient, email: str = "owner@example.com") -> tuple[Any, Any, Any]:
    _, headers = owner(client, email)
    camera = register_camera(client, headers, "KC120")  # a free plan: manual recording (V5)
    device = {"Authorization": f"Device {camera['device_token']}"}
    return headers, camera, device


def _state(client: TestClient, headers: dict[str, str], camera_id: str, request_id: str) -> Any:
    answer = client.get(f"/v1/cameras/{camera_id}/manual-recordings/{request_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_issue_12_item_3_a_request_goes_sent_recording_uploaded_over_the_long_poll(
    client: TestClient, at_now: FixedClock
) -> None:
    headers, camera, device = _camera(client)
    posted = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers)
    assert posted.status_code == 202
    request = posted.json()
    assert (request["state"], request["clip_id"]) == ("sent", None)
    assert request["answer_by"] == "2026-04-01T12:02:00Z"  # 12:00 + 2 minutes
    (command,) = client.get("/v1/device/commands", headers=device).json()["items"]
    assert (command["kind"], command["request_id"]) == ("record_now", request["id"])
    assert command["until"] == "2026-04-01T12:02:00+00:00"

    at_now.advance(timedelta(seconds=5))
    ack = client.post(f"/v1/device/commands/{command['id']}/ack", headers=device)
    assert ack.status_code == 204
    recording = _state(client, headers, camera["id"], request["id"])
    assert (recording["state"], recording["recording_started_at"]) == (
        "recording",
        "2026-04-01T12:00:05Z",
    )

    at_now.advance(timedelta(seconds=40))
    clip = _upload(client, device, NOW + timedelta(seconds=5), request_id=request["id"])
    assert clip.status_code == 201, clip.text
    uploaded = _state(client, headers, camera["id"], request["id"])
    assert (uploaded["state"], uploaded["clip_id"]) == ("uploaded", clip.json()["id"])
    # A retried upload repeats the clip and leaves the link as it is.
    again = _upload(client, device, NOW + timedelta(seconds=5), request_id=request["id"])
    assert again.status_code == 200
    assert _state(client, headers, camera["id"], request["id"])["clip_id"] == clip.json()["id"]


def test_issue_12_item_3_an_unanswered_request_expires_after_two_minutes(
    client: TestClient, at_now: FixedClock
) -> None:
    headers, camera, device = _camera(client)
    request = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers).json()
    at_now.advance(timedelta(minutes=2) - timedelta(seconds=1))
    assert _state(client, headers, camera["id"], request["id"])["state"] == "sent"
    at_now.advance(timedelta(seconds=1))  # 12:02:00, the request's answer_by
    assert _state(client, headers, camera["id"], request["id"])["state"] == "expired"
    # A late clip is still a manual clip (V5), but it answers nothing any more.
    late = _upload(client, device, NOW + timedelta(minutes=2), request_id=request["id"])
    assert late.status_code == 201
    expired = _state(client, headers, camera["id"], request["id"])
    assert (expired["state"], expired["clip_id"]) == ("expired", None)
    # A late ack does not revive it either.
    (command,) = client.get("/v1/device/commands", headers=device).json()["items"]
    client.post(f"/v1/device/commands/{command['id']}/ack", headers=device)
    assert _state(client, headers, camera["id"], request["id"])["state"] == "expired"


def test_issue_12_item_3_a_recording_whose_clip_never_comes_expires_after_15_minutes(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    headers, camera, _ = _camera(client)
    request = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers).json()
    with session_scope(context.sessions) as session:
        event = {"kind": "recording_started", "request_id": request["id"]}
        assert record_event(session, camera["serial"], event, NOW + timedelta(seconds=3))
    at_now.advance(timedelta(minutes=15) - timedelta(seconds=1))
    assert _state(client, headers, camera["id"], request["id"])["state"] == "recording"
    at_now.advance(timedelta(seconds=1))
    assert _state(client, headers, camera["id"], request["id"])["state"] == "expired"


def test_issue_12_item_3_the_mqtt_event_starts_the_recording_and_a_clip_answers_directly(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    headers, camera, device = _camera(client)
    request = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers).json()
    with session_scope(context.sessions) as session:
        event = {"kind": "recording_started", "request_id": request["id"]}
        assert record_event(session, camera["serial"], event, NOW + timedelta(seconds=2))
    assert _state(client, headers, camera["id"], request["id"])["state"] == "recording"
    # Without an answer first, a clip posted in time answers the request too.
    second = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers).json()
    clip = _upload(client, device, NOW + timedelta(seconds=30), request_id=second["id"])
    assert clip.status_code == 201
    assert _state(client, headers, camera["id"], second["id"])["state"] == "uploaded"


def test_issue_12_item_3_another_cameras_request_is_neither_shown_nor_answered(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    headers, camera, _ = _camera(client, "mine@example.com")
    other_headers, other_camera, other_device = _camera(client, "theirs@example.com")
    request = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers).json()
    path = f"/v1/cameras/{camera['id']}/manual-recordings/{request['id']}"
    assert client.get(path, headers=other_headers).status_code == 404
    foreign = f"/v1/cameras/{other_camera['id']}/manual-recordings/{request['id']}"
    assert client.get(foreign, headers=other_headers).status_code == 404
    with session_scope(context.sessions) as session:
        event = {"kind": "recording_started", "request_id": request["id"]}
        record_event(session, other_camera["serial"], event, NOW)
    clip = _upload(client, other_device, NOW, request_id=request["id"])
    assert clip.status_code == 201  # the other camera's clip is stored, as its own
    assert _state(client, headers, camera["id"], request["id"])["state"] == "sent"


def test_issue_12_item_3_a_request_id_goes_only_with_a_manual_clip(
    client: TestClient, at_now: FixedClock
) -> None:
    headers, camera, device = _camera(client)
    request = client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers).json()
    motion = _upload(client, device, NOW, kind="motion", request_id=request["id"])
    assert (motion.status_code, motion.json()["code"]) == (422, "validation_error")
