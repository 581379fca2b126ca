"""Clips: upload, activity center, playback, retention, erasure, manual recording (SPEC V1-V8,
C4, C6, F2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from kasacare.clips.models import Clip
from kasacare.clips.storage import LocalDiskStorage
from kasacare.clips.sweeper import sweep
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.support.models import AuditEntry
from tests.factories import (
    VIDEO,
    card_on_file,
    new_serial,
    owner,
    register_camera,
    subscribe,
    token_for,
)

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def upload(
    client: TestClient,
    device_token: str,
    started_at: datetime,
    *,
    kind: str = "motion",
    data: bytes = VIDEO,
    content_type: str = "video/mp4",
) -> Any:
    return client.post(
        "/v1/device/clips",
        data={"started_at": iso(started_at), "duration_s": "20", "kind": kind},
        files={"video": ("clip.mp4", data, content_type)},
        headers={"Authorization": f"Device {device_token}"},
    )


@pytest.fixture
def at_now(clock: FixedClock) -> FixedClock:
    clock.set(NOW)
    return clock


def _blobs(context: AppContext) -> int:
    storage = context.storage
    assert isinstance(storage, LocalDiskStorage)
    return sum(1 for path in storage.root.rglob("*.mp4"))


def _rows(context: AppContext) -> list[Clip]:
    with context.sessions() as session:
        return list(session.scalars(select(Clip)))


def test_v1_f5_a_camera_without_cloud_recording_is_refused_and_nothing_stored(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC105")
    before = _blobs(context)
    response = upload(client, camera["device_token"], NOW - timedelta(minutes=1))
    assert response.status_code == 403
    assert response.json()["code"] == "no_cloud_recording"
    assert _rows(context) == []
    assert _blobs(context) == before


def test_v1_started_at_outside_the_window_is_refused(
    client: TestClient, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC120")["device_token"]  # 48 h
    for started in (NOW - timedelta(hours=48, seconds=1), NOW + timedelta(minutes=5, seconds=1)):
        response = upload(client, token, started)
        assert response.status_code == 422, started
        assert response.json()["code"] == "validation_error"
    assert upload(client, token, NOW - timedelta(hours=48)).status_code == 201
    assert upload(client, token, NOW + timedelta(minutes=5)).status_code == 201


def test_v1_a_retried_upload_answers_the_same_clip_and_stores_once(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC120")["device_token"]
    first = upload(client, token, NOW - timedelta(minutes=3))
    again = upload(client, token, NOW - timedelta(minutes=3))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["expires_at"] == iso(NOW - timedelta(minutes=3) + timedelta(hours=48))
    assert len(_rows(context)) == 1
    assert _blobs(context) == 1  # the retry's own bytes are not kept
    assert _blobs(context) == 1


def test_v1_bad_uploads_are_refused_clearly(client: TestClient, at_now: FixedClock) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC120")["device_token"]
    wrong_type = upload(client, token, NOW, content_type="image/png")
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (415, "unsupported_media_type")
    empty = upload(client, token, NOW, data=b"")
    assert empty.status_code == 422
    forged = client.post(
        "/v1/device/clips",
        data={"started_at": iso(NOW), "duration_s": "20"},
        files={"video": ("c.mp4", VIDEO, "video/mp4")},
        headers={"Authorization": "Device kc_dev_forged"},
    )
    assert forged.status_code == 401


def test_f2_a_free_plan_clip_expires_no_later_than_the_free_plan_end(
    client: TestClient, admin_headers: dict[str, str], at_now: FixedClock
) -> None:
    account, _ = owner(client)
    imported = client.post(
        "/v1/admin/cameras",
        json={
            "account_id": account["id"],
            "model": "KC310",  # 12 h, 1 year
            "serial": new_serial(),
            "setup_at": iso(NOW - timedelta(days=365) + timedelta(hours=5)),
        },
        headers=admin_headers,
    ).json()
    ends = imported["entitlement"]["free_plan_ends_at"]
    clip = upload(client, imported["device_token"], NOW - timedelta(hours=1)).json()
    # started 11:00Z + 12 h = 23:00Z, but the free plan ends at 17:00Z the same day
    assert clip["expires_at"] == ends == iso(NOW + timedelta(hours=5))


def test_v2_v3a_v4_an_aged_out_clip_stays_listed_unavailable_then_goes(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    clip = upload(client, camera["device_token"], NOW - timedelta(hours=1)).json()
    assert client.get(f"/v1/clips/{clip['id']}", headers=headers).status_code == 200
    at_now.set(NOW + timedelta(hours=47))  # started 11:00Z; expires 48 h later
    headers = token_for(client, "owner@example.com")
    gone = client.get(f"/v1/clips/{clip['id']}", headers=headers)
    assert gone.status_code == 410
    assert gone.json()["code"] == "clip_no_longer_available"
    assert gone.json()["detail"] == "No longer available"
    (entry,) = client.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()["items"]
    assert (entry["id"], entry["available"]) == (clip["id"], False)
    assert set(entry) == {
        *("id", "started_at", "duration_s", "kind", "expires_at", "available"),
        "thumbnail_url",
    }
    assert entry["thumbnail_url"] is None  # no video, no poster either
    assert sweep(context.sessions, context.storage, context.catalog, at_now.now()).deleted == 1
    assert _blobs(context) == 0
    at_now.set(NOW - timedelta(hours=1) + timedelta(days=30))  # V3a: 30 days after it started
    headers = token_for(client, "owner@example.com")
    assert client.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()["items"] == []
    assert client.get(f"/v1/clips/{clip['id']}", headers=headers).status_code == 410


def test_c4_v3_v4_cancel_erases_history_outside_the_free_window_for_good(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers, "KC120")
    subscribe(client, headers, [camera["id"]])
    old = upload(client, camera["device_token"], NOW - timedelta(hours=1)).json()
    at_now.set(NOW + timedelta(days=3))
    headers = token_for(client, "owner@example.com")
    recent = upload(client, camera["device_token"], at_now.now() - timedelta(hours=1)).json()
    assert old["expires_at"] == iso(NOW - timedelta(hours=1) + timedelta(days=30))
    quote = client.post("/v1/subscription/preview", json={"action": "cancel"}, headers=headers)
    assert quote.json()["erased"] == [
        {"camera_id": camera["id"], "before": iso(at_now.now() - timedelta(hours=48))}
    ]
    client.delete("/v1/subscription", headers=headers)
    # The old clip is erased in the cancel's transaction; its bytes went after the commit.
    assert client.get(f"/v1/clips/{old['id']}", headers=headers).status_code == 410
    kept = client.get(f"/v1/clips/{recent['id']}", headers=headers).json()
    assert kept["expires_at"] == iso(at_now.now() - timedelta(hours=1) + timedelta(hours=48))
    assert _blobs(context) == 1
    # V4: subscribing again never brings it back.
    subscribe(client, headers, [camera["id"]])
    assert client.get(f"/v1/clips/{old['id']}", headers=headers).status_code == 410


def test_v6_an_upgrade_lengthens_the_window_of_clips_still_held(
    client: TestClient, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers, "KC100")  # 12 h free
    clip = upload(client, camera["device_token"], NOW - timedelta(hours=2)).json()
    assert clip["expires_at"] == iso(NOW + timedelta(hours=10))
    subscribe(client, headers, [camera["id"]], plan="premium")
    held = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    assert held["expires_at"] == iso(NOW - timedelta(hours=2) + timedelta(days=30))


def test_v7_signed_urls_play_for_300_seconds_and_download_only_on_paid_plans(
    client: TestClient, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers, "KC120")
    clip = upload(client, camera["device_token"], NOW - timedelta(minutes=10)).json()
    free = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    assert free["download_url"] is None
    assert free["url_expires_at"] == iso(NOW + timedelta(seconds=300))
    played = client.get(free["playback_url"])
    assert (played.status_code, played.content) == (200, VIDEO)
    assert played.headers["content-type"] == "video/mp4"
    at_now.advance(timedelta(seconds=300))
    assert client.get(free["playback_url"]).status_code == 403  # expired link
    headers = token_for(client, "owner@example.com")
    subscribe(client, headers, [camera["id"]])
    paid = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    downloaded = client.get(paid["download_url"])
    assert downloaded.status_code == 200
    assert "attachment" in downloaded.headers["content-disposition"]
    # A playback link cannot be turned into a download.
    assert client.get(paid["playback_url"] + "?download=1").status_code == 403


def test_v7_the_media_link_rechecks_erasure(client: TestClient, at_now: FixedClock) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    clip = upload(client, camera["device_token"], NOW - timedelta(minutes=10)).json()
    link = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()["playback_url"]
    client.delete(
        f"/v1/cameras/{camera['id']}?confirm=true", headers=headers
    )  # C6 erases its clips
    media = client.get(link)
    assert (media.status_code, media.json()["code"]) == (410, "clip_no_longer_available")


def test_v7_activity_center_pages_newest_first_with_a_time_range(
    client: TestClient, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    starts = [NOW - timedelta(hours=h) for h in (1, 2, 3, 4, 5)]
    for started in starts:
        upload(client, camera["device_token"], started)
    path = f"/v1/cameras/{camera['id']}/clips"
    first = client.get(path, params={"limit": 2}, headers=headers).json()
    second = client.get(
        path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    third = client.get(
        path, params={"limit": 2, "cursor": second["next_cursor"]}, headers=headers
    ).json()
    seen = [c["started_at"] for page in (first, second, third) for c in page["items"]]
    assert seen == [iso(s) for s in starts]
    assert third["next_cursor"] is None
    ranged = client.get(
        path, params={"from": iso(starts[3]), "to": iso(starts[1])}, headers=headers
    ).json()
    assert [c["started_at"] for c in ranged["items"]] == [iso(starts[2]), iso(starts[3])]
    assert client.get(path, params={"limit": 101}, headers=headers).status_code == 422


def test_another_accounts_clips_answer_404(client: TestClient, at_now: FixedClock) -> None:
    _, mine = owner(client, "mine@example.com")
    _, theirs = owner(client, "theirs@example.com")
    camera = register_camera(client, theirs, "KC120")
    clip = upload(client, camera["device_token"], NOW).json()
    assert client.get(f"/v1/clips/{clip['id']}", headers=mine).status_code == 404
    assert client.get(f"/v1/cameras/{camera['id']}/clips", headers=mine).status_code == 404


def test_v5_q15_manual_recording_needs_cloud_recording_and_lands_in_the_activity_center(
    client: TestClient, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    card_on_file(client, headers)
    sd_camera = register_camera(client, headers, "KC115")
    refused = client.post(f"/v1/cameras/{sd_camera['id']}/manual-recordings", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "no_cloud_recording")
    assert upload(client, sd_camera["device_token"], NOW, kind="manual").status_code == 403
    subscribe(client, headers, [sd_camera["id"]])
    accepted = client.post(f"/v1/cameras/{sd_camera['id']}/manual-recordings", headers=headers)
    assert accepted.status_code == 202
    clip = upload(client, sd_camera["device_token"], NOW, kind="manual")
    assert clip.status_code == 201
    (entry,) = client.get(f"/v1/cameras/{sd_camera['id']}/clips", headers=headers).json()["items"]
    assert (entry["kind"], entry["available"]) == ("manual", True)
    free_camera = register_camera(client, headers, "KC120")
    response = client.post(f"/v1/cameras/{free_camera['id']}/manual-recordings", headers=headers)
    assert response.status_code == 202  # the free plan allows it too


def test_c6_unbinding_erases_every_clip_so_a_new_owner_sees_none(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, seller = owner(client, "seller@example.com")
    _, buyer = owner(client, "buyer@example.com")
    serial = new_serial()
    camera = register_camera(client, seller, "KC120", serial)
    clip = upload(client, camera["device_token"], NOW - timedelta(minutes=5)).json()
    removed = client.delete(f"/v1/cameras/{camera['id']}?confirm=true", headers=seller)
    assert removed.status_code == 204  # held clips: removal needs the owner's confirmation
    sweep(context.sessions, context.storage, context.catalog, NOW)
    assert _blobs(context) == 0
    rebound = register_camera(client, buyer, "KC120", serial)
    assert client.get(f"/v1/cameras/{rebound['id']}/clips", headers=buyer).json()["items"] == []
    assert client.get(f"/v1/clips/{clip['id']}", headers=buyer).status_code == 404


def test_v8_a_sweeper_mismatch_deletes_nothing_and_raises_an_alert(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    clip = upload(client, camera["device_token"], NOW - timedelta(hours=1)).json()
    # Force a mismatch: the row claims an expiry that the camera's window contradicts.
    with context.sessions() as session:
        session.execute(
            update(Clip)
            .values(expires_at=NOW - timedelta(minutes=1))
            .where(Clip.id == uuid.UUID(clip["id"]))
        )
        session.commit()
    result = sweep(context.sessions, context.storage, context.catalog, NOW)
    assert (result.deleted, result.mismatches) == (0, 1)
    assert _blobs(context) == 1
    with context.sessions() as session:
        (alert,) = session.scalars(select(AuditEntry)).all()
    assert (alert.action, alert.target) == ("sweeper_mismatch", clip["id"])


def test_v2_the_sweeper_deletes_only_what_expired(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC100")["device_token"]  # 12 h
    upload(client, token, NOW - timedelta(hours=11))
    upload(client, token, NOW - timedelta(hours=1))
    at_now.advance(timedelta(hours=2))
    result = sweep(context.sessions, context.storage, context.catalog, at_now.now())
    assert (result.deleted, result.mismatches) == (1, 0)
    assert _blobs(context) == 1
    again = sweep(context.sessions, context.storage, context.catalog, at_now.now())
    assert again.deleted == 0


def test_v7_support_agents_see_clip_entries_never_video(
    client: TestClient, admin_headers: dict[str, str], at_now: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    upload(client, camera["device_token"], NOW - timedelta(minutes=5))
    client.post(
        "/v1/admin/support-agents",
        json={"email": "agent@kasa.example", "password": "correct horse battery"},
        headers=admin_headers,
    )
    agent = token_for(client, "agent@kasa.example")
    entries = client.get(f"/v1/support/cameras/{camera['id']}/clips", headers=agent)
    assert entries.status_code == 200
    (entry,) = entries.json()["items"]
    assert set(entry) == {
        *("id", "started_at", "duration_s", "kind", "expires_at", "available"),
        "thumbnail_url",
    }
    assert entry["thumbnail_url"] is None  # no video, no poster either
    # No playback for an agent: the owner's clip route is not theirs.
    assert client.get(f"/v1/clips/{entry['id']}", headers=agent).status_code == 403
    assert (
        client.get(f"/v1/support/cameras/{camera['id']}/clips", headers=headers).status_code == 403
    )


def test_v1_issue_11_an_upload_that_is_not_mp4_is_refused_and_nothing_stored(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC120")["device_token"]
    for data in (b"GIF89a" + bytes(100), b"\x00\x00\x00\x18moov" + bytes(100), b"ftyp"):
        response = upload(client, token, NOW - timedelta(minutes=1), data=data)
        assert response.status_code == 415, data
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_mp4"
    assert _rows(context) == []
    assert _blobs(context) == 0
    # The device token is checked first: an unknown camera learns nothing of its bytes.
    forged = client.post(
        "/v1/device/clips",
        data={"started_at": iso(NOW), "duration_s": "20"},
        files={"video": ("c.mp4", b"not a video", "video/mp4")},
        headers={"Authorization": "Device kc_dev_forged"},
    )
    assert forged.status_code == 401
    # The smallest MP4 start passes.
    assert upload(client, token, NOW, data=VIDEO[:24]).status_code == 201
