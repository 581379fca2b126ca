"""Thumbnails and media probing (issue 11, item 3): a real H.264 MP4 (made by PyAV in the
test) is read by the media job (duration, codec, size, a JPEG poster stored beside the clip);
a camera's own thumbnail part is checked (JPEG magic, 256 KiB) and kept; thumbnails go with
their clip by every erasure path and the sweeper (the files are gone), and their URL answers
410 with the clip's media. On S3 (moto's server) the same, with presigned URLs."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from kasacare.app import create_app
from kasacare.clips.jpeg import MAX_THUMBNAIL_BYTES
from kasacare.clips.media_job import EXPIRED_UNREAD, MediaResult, probe_new_clips
from kasacare.clips.models import Clip
from kasacare.clips.signing import CLIP_URL_KEYS, PLAYBACK_URL_TTL, sign
from kasacare.clips.storage import ClipStorage, LocalDiskStorage
from kasacare.clips.sweeper import sweep
from kasacare.clips.thumbnails import THUMBNAIL_PATH
from kasacare.context import AppContext
from kasacare.jobs import probe_media
from kasacare.kit.clock import FixedClock
from tests.clips.conftest import s3_storage
from tests.clips.test_clips import NOW, iso
from tests.factories import (
    VIDEO,
    card_on_file,
    owner,
    register_camera,
    subscribe,
    token_for,
)
from tests.media import make_mp4

MP4 = make_mp4(seconds=3, width=64, height=48)
#: What a camera sends as its poster: only the magic is checked, so any JPEG-looking bytes.
CAMERA_JPEG = b"\xff\xd8\xff\xe0" + b"camera poster" * 10 + b"\xff\xd9"


@pytest.fixture
def at_now(clock: FixedClock) -> FixedClock:
    clock.set(NOW)
    return clock


def upload(
    client: TestClient,
    token: str,
    started_at: datetime,
    *,
    data: bytes = MP4,
    thumbnail: tuple[str, bytes, str] | None = None,
) -> Any:
    files: dict[str, tuple[str, bytes, str]] = {"video": ("clip.mp4", data, "video/mp4")}
    if thumbnail is not None:
        files["thumbnail"] = thumbnail
    return client.post(
        "/v1/device/clips",
        data={"started_at": iso(started_at), "duration_s": "3", "kind": "motion"},
        files=files,
        headers={"Authorization": f"Device {token}"},
    )


def _camera(client: TestClient, *, paid: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    if paid:
        card_on_file(client, headers)
        subscribe(client, headers, [camera["id"]])
    return camera, headers


def _row(context: AppContext, clip_id: str) -> Clip:
    with context.sessions() as session:
        clip = session.get(Clip, uuid.UUID(clip_id))
        assert clip is not None
        return clip


def _files(context: AppContext, pattern: str) -> list[Path]:
    storage = context.storage
    assert isinstance(storage, LocalDiskStorage)
    return sorted(storage.root.rglob(pattern))


def _probe(context: AppContext, storage: ClipStorage | None = None) -> MediaResult:
    return probe_new_clips(context.sessions, storage or context.storage, context.clock.now)


def test_issue_11_item_3_the_media_job_reads_a_real_mp4_and_stores_a_jpeg_poster(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    camera, headers = _camera(client)
    clip = upload(client, camera["device_token"], NOW - timedelta(minutes=5)).json()
    before = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    assert (before["media"], before["thumbnail_url"]) == (None, None)  # not read yet
    result = probe_media(context, at_now.now())
    assert (result.probed, result.posters, result.failed) == (1, 1, 0)
    row = _row(context, clip["id"])
    assert (row.media_duration_ms, row.video_codec, row.width, row.height) == (3000, "h264", 64, 48)
    assert row.media_error is None and row.media_probed_at == NOW
    assert row.thumbnail_key == row.storage_key.removesuffix(".mp4") + ".jpg"
    (poster,) = _files(context, "*.jpg")
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG (mjpeg encoder)
    read = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    assert read["media"] == {"duration_ms": 3000, "codec": "h264", "width": 64, "height": 48}
    image = client.get(read["thumbnail_url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.content == poster.read_bytes()
    # List entries carry it too (signed the same way, no extra query).
    (entry,) = client.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()["items"]
    assert client.get(entry["thumbnail_url"]).content == image.content
    # Read once: the next run has nothing to do.
    assert _probe(context) == MediaResult()


def test_issue_11_item_3_a_thumbnail_sent_with_the_upload_is_kept_and_not_replaced(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    camera, headers = _camera(client)
    sent = upload(
        client,
        camera["device_token"],
        NOW - timedelta(minutes=5),
        thumbnail=("poster.jpg", CAMERA_JPEG, "image/jpeg"),
    )
    assert sent.status_code == 201
    clip = sent.json()
    (poster,) = _files(context, "*.jpg")
    assert poster.read_bytes() == CAMERA_JPEG  # stored with the clip, in the same write
    read = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    assert client.get(read["thumbnail_url"]).content == CAMERA_JPEG  # before the job ran
    result = _probe(context)
    assert (result.probed, result.posters) == (1, 0)  # read, but no poster extracted
    assert poster.read_bytes() == CAMERA_JPEG
    assert _row(context, clip["id"]).video_codec == "h264"
    # A retry with its own thumbnail keeps the first clip's; its own bytes are not kept.
    again = upload(
        client,
        camera["device_token"],
        NOW - timedelta(minutes=5),
        thumbnail=("poster.jpg", CAMERA_JPEG + b"x", "image/jpeg"),
    )
    assert (again.status_code, again.json()["id"]) == (200, clip["id"])
    assert [path.read_bytes() for path in _files(context, "*.jpg")] == [CAMERA_JPEG]
    assert len(_files(context, "*.mp4")) == 1


@pytest.mark.parametrize(
    ("thumbnail", "status", "code"),
    [
        (("poster.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png"), 415, "not_jpeg"),
        (("poster.jpg", b"", "image/jpeg"), 415, "not_jpeg"),
        (
            ("poster.jpg", b"\xff\xd8\xff" + bytes(MAX_THUMBNAIL_BYTES), "image/jpeg"),
            413,
            "thumbnail_too_large",
        ),
    ],
)
def test_issue_11_item_3_a_bad_thumbnail_is_refused_and_nothing_stored(
    client: TestClient,
    context: AppContext,
    at_now: FixedClock,
    thumbnail: tuple[str, bytes, str],
    status: int,
    code: str,
) -> None:
    camera, headers = _camera(client)
    refused = upload(
        client, camera["device_token"], NOW - timedelta(minutes=5), thumbnail=thumbnail
    )
    assert (refused.status_code, refused.json()["code"]) == (status, code)
    assert refused.headers["content-type"] == "application/problem+json"
    assert _files(context, "*.*") == []
    assert client.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()["items"] == []


def test_issue_11_item_3_a_clip_that_is_not_video_is_recorded_once_and_not_retried(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    camera, headers = _camera(client)
    clip = upload(client, camera["device_token"], NOW - timedelta(minutes=5), data=VIDEO).json()
    good = upload(client, camera["device_token"], NOW - timedelta(minutes=4)).json()
    result = _probe(context)
    # One broken clip does not stop the next one.
    assert (result.probed, result.failed) == (1, 1)
    row = _row(context, clip["id"])
    assert row.media_probed_at == NOW and row.media_error is not None
    assert "MediaUnreadable" in row.media_error
    assert (row.video_codec, row.thumbnail_key) == (None, None)
    assert _row(context, good["id"]).thumbnail_key is not None
    assert _probe(context) == MediaResult()  # recorded: not read again
    read = client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    assert (read["media"], read["thumbnail_url"]) == (None, None)
    assert len(_files(context, "*.jpg")) == 1


def test_issue_11_item_3_a_clip_that_expired_unread_leaves_the_queue_unread(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    camera, _ = _camera(client)  # KC120 free: 48 h
    clip = upload(client, camera["device_token"], NOW - timedelta(minutes=5)).json()
    at_now.advance(timedelta(hours=48))
    assert _probe(context).gone == 1
    row = _row(context, clip["id"])
    assert (row.media_error, row.thumbnail_key) == (EXPIRED_UNREAD, None)
    assert _files(context, "*.jpg") == []


class ErasingOnPoster:
    """Clip storage that erases every clip (as a plan change would commit) right after a
    poster is written: the media job's read and its record are split by an erasure."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.inner = context.storage

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.inner.put(key, data, content_type)
        with self.context.sessions.begin() as session:
            session.execute(update(Clip).values(erased_at=self.context.clock.now()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_issue_11_item_3_a_poster_for_a_clip_erased_meanwhile_is_deleted(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    camera, _ = _camera(client)
    clip = upload(client, camera["device_token"], NOW - timedelta(minutes=5)).json()
    result = _probe(context, ErasingOnPoster(context))
    assert (result.probed, result.gone) == (0, 1)
    assert _row(context, clip["id"]).thumbnail_key is None
    assert _files(context, "*.jpg") == []  # the poster did not outlive its clip
    sweep(context.sessions, context.storage, context.catalog, at_now.now())
    assert _files(context, "*.*") == []


# --- thumbnails go with their clip, by every path -------------------------------------------


@pytest.fixture
def two_posters(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """A Premium KC120 with two clips, one poster sent by the camera, one extracted by the
    job: the camera, the owner's headers and the clips' thumbnail URLs."""
    camera, headers = _camera(client, paid=True)
    token = camera["device_token"]
    ids = [
        upload(client, token, NOW - timedelta(hours=1)).json()["id"],
        upload(
            client,
            token,
            NOW - timedelta(minutes=5),
            thumbnail=("p.jpg", CAMERA_JPEG, "image/jpeg"),
        ).json()["id"],
    ]
    _probe(context)
    assert len(_files(context, "*.jpg")) == 2
    urls = [client.get(f"/v1/clips/{i}", headers=headers).json()["thumbnail_url"] for i in ids]
    assert all(client.get(url).status_code == 200 for url in urls)
    return camera, headers, ids


def _gone(client: TestClient, context: AppContext, ids: list[str]) -> None:
    """Both clips' files are deleted and their thumbnail URLs (as `thumbnail_url` signs them,
    valid now) answer 410, as their media would."""
    assert _files(context, "*.*") == []
    now = context.clock.now()
    keys = context.signing_keys.keyring(CLIP_URL_KEYS)
    for clip_id in ids:
        token = sign(clip_id, now + PLAYBACK_URL_TTL, keys, purpose="thumbnail")
        answer = client.get(THUMBNAIL_PATH.format(token=token))
        assert (answer.status_code, answer.json()["code"]) == (410, "clip_no_longer_available")


def test_issue_11_item_3_camera_removal_erases_the_thumbnails_with_the_clips(
    client: TestClient,
    context: AppContext,
    at_now: FixedClock,
    two_posters: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    camera, headers, ids = two_posters
    client.delete("/v1/subscription", headers=headers)  # C6: a covered camera stays
    removed = client.delete(f"/v1/cameras/{camera['id']}?confirm=true", headers=headers)
    assert removed.status_code == 204
    sweep(context.sessions, context.storage, context.catalog, at_now.now())
    _gone(client, context, ids)


def test_issue_11_item_3_support_force_unbind_erases_the_thumbnails_with_the_clips(
    client: TestClient,
    context: AppContext,
    at_now: FixedClock,
    admin_headers: dict[str, str],
    two_posters: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    camera, _, ids = two_posters
    unbound = client.post(
        f"/v1/support/cameras/{camera['id']}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert unbound.status_code == 200
    _gone(client, context, ids)  # its bytes went right after the commit


def test_issue_11_item_3_a_cancel_erases_the_thumbnails_of_the_history_it_erases(
    client: TestClient,
    context: AppContext,
    at_now: FixedClock,
    two_posters: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    _, _, ids = two_posters
    at_now.advance(timedelta(days=3))  # both clips now older than the free plan's 48 h
    headers = token_for(client, "owner@example.com")
    assert client.delete("/v1/subscription", headers=headers).status_code == 200
    _gone(client, context, ids)  # C4: erased in the cancel, bytes gone after its commit


def test_issue_11_item_3_the_sweeper_deletes_expired_clips_thumbnails(
    client: TestClient,
    context: AppContext,
    at_now: FixedClock,
    two_posters: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    _, _, ids = two_posters
    at_now.advance(timedelta(days=30))  # Premium: 30 days of history
    result = sweep(context.sessions, context.storage, context.catalog, at_now.now())
    assert result.deleted == 2
    _gone(client, context, ids)


# --- on S3 ----------------------------------------------------------------------------------


def test_issue_11_item_3_on_s3_posters_are_presigned_and_erased_with_their_clip(
    context: AppContext, at_now: FixedClock, s3_endpoint: str
) -> None:
    """The media job reads the clip from S3 (`get`), stores the poster there; the API hands
    out a presigned S3 GET for it; camera removal and the sweeper delete both objects."""
    storage = s3_storage(s3_endpoint)
    on_s3 = dataclasses.replace(context, storage=storage)
    with TestClient(create_app(on_s3)) as client:
        camera, headers = _camera(client)
        extracted = upload(client, camera["device_token"], NOW - timedelta(minutes=5)).json()
        sent = upload(
            client,
            camera["device_token"],
            NOW - timedelta(minutes=4),
            thumbnail=("p.jpg", CAMERA_JPEG, "image/jpeg"),
        ).json()
        assert _probe(on_s3).posters == 1
        rows = [_row(context, extracted["id"]), _row(context, sent["id"])]
        keys = [key for row in rows for key in (row.storage_key, row.thumbnail_key)]
        assert all(key is not None and storage.exists(key) for key in keys)
        read = client.get(f"/v1/clips/{extracted['id']}", headers=headers).json()
        assert read["thumbnail_url"].startswith(f"{s3_endpoint}/")
        assert read["media"] == {"duration_ms": 3000, "codec": "h264", "width": 64, "height": 48}
        poster = httpx.get(read["thumbnail_url"])
        assert poster.status_code == 200 and poster.content[:3] == b"\xff\xd8\xff"
        (entry, _) = client.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()[
            "items"
        ]
        assert httpx.get(entry["thumbnail_url"]).content == CAMERA_JPEG
        removed = client.delete(f"/v1/cameras/{camera['id']}?confirm=true", headers=headers)
        assert removed.status_code == 204
        sweep(on_s3.sessions, storage, on_s3.catalog, at_now.now())
        assert not any(key is not None and storage.exists(key) for key in keys)
        assert httpx.get(read["thumbnail_url"]).status_code == 404  # S3: no such object
