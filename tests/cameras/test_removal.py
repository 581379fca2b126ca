"""Removing a camera (issue 11 item 5, C6): the owner sees what history goes first. Without
`confirm=true` a camera that holds clips answers 409 `confirmation_required` listing them and
nothing changes; with it (or with nothing held) the camera goes and its clips are erased."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.kit.clock import FixedClock
from tests.conftest import START
from tests.factories import VIDEO, card_on_file, owner, register_camera, subscribe, token_for


def upload(client: TestClient, camera: dict[str, Any], started_at: datetime, kind: str) -> str:
    response = client.post(
        "/v1/device/clips",
        data={"started_at": started_at.isoformat(), "duration_s": "20", "kind": kind},
        files={"video": ("clip.mp4", VIDEO, "video/mp4")},
        headers={"Authorization": f"Device {camera['device_token']}"},
    )
    assert response.status_code == 201, response.text
    clip_id: str = response.json()["id"]
    return clip_id


def test_issue_11_item_5_a_camera_with_held_clips_needs_confirmation(
    client: TestClient, clock: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")  # free plan: 48 h of history
    older = upload(client, camera, START - timedelta(hours=2), "motion")
    newer = upload(client, camera, START - timedelta(minutes=5), "manual")
    path = f"/v1/cameras/{camera['id']}"

    refused = client.delete(path, headers=headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["code"] == "confirmation_required"
    assert body["clip_count"] == 2
    assert body["clips"] == [  # newest first: what the owner would lose
        {"id": newer, "started_at": "2026-03-01T11:55:00+00:00", "kind": "manual"},
        {"id": older, "started_at": "2026-03-01T10:00:00+00:00", "kind": "motion"},
    ]
    # Nothing changed: the camera and its clips are still there.
    assert client.get(path, headers=headers).status_code == 200
    assert client.get(f"/v1/clips/{newer}", headers=headers).status_code == 200

    assert client.delete(f"{path}?confirm=false", headers=headers).status_code == 409
    assert client.delete(f"{path}?confirm=true", headers=headers).status_code == 204
    assert client.get(path, headers=headers).status_code == 404
    assert client.get("/v1/cameras", headers=headers).json()["items"] == []


def test_issue_11_item_5_clips_no_longer_held_need_no_confirmation(
    client: TestClient, clock: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    upload(client, camera, START - timedelta(hours=1), "motion")
    clock.set(START + timedelta(hours=48))  # the clip left the 48-hour window: nothing held
    headers = token_for(client, "owner@example.com")  # the first token expired meanwhile
    assert client.delete(f"/v1/cameras/{camera['id']}", headers=headers).status_code == 204


def test_issue_11_item_5_a_camera_without_clips_is_removed_at_once(client: TestClient) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    assert client.delete(f"/v1/cameras/{camera['id']}", headers=headers).status_code == 204


def test_c6_a_subscribed_camera_is_refused_before_any_confirmation(
    client: TestClient, clock: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    upload(client, camera, START - timedelta(minutes=5), "motion")
    card_on_file(client, headers)
    subscribe(client, headers, [camera["id"]])
    for query in ("", "?confirm=true"):
        response = client.delete(f"/v1/cameras/{camera['id']}{query}", headers=headers)
        assert (response.status_code, response.json()["code"]) == (409, "camera_subscribed")
