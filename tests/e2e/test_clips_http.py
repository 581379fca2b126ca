"""Clips over HTTP against a real `kasacare serve`: uploads under concurrency (V1) on
`--workers 2`, whose processes each store the uploads that reach them together in groups
(`clips.ingest`); playback with Range (V7, issue 11) on the shared live server."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kasacare.clips.mp4 import mp4_like
from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.e2e.test_foundation_http import _now, _owner, _register
from tests.factories import VIDEO
from tests.media import make_mp4

CAMERAS = 8
CLIPS_PER_CAMERA = 4


@pytest.fixture(scope="module")
def two_workers(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp(f"two-workers-{backend}")
    clips = directory / "clips"
    with fresh_database(backend, directory) as database_url:
        env = server_env(database_url, directory)
        with running_server(env, directory / "server.log", workers=2) as base:
            yield base, clips


def test_v1_concurrent_uploads_and_their_retries_store_each_clip_once(
    two_workers: tuple[str, Path],
) -> None:
    base, clips = two_workers
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, timeout=60) as http:
        headers = _owner(http)
        cameras = [_register(http, headers, "KC120") for _ in range(CAMERAS)]
        now = _now(http, admin)
    # Every upload is sent twice at once: a camera retrying before its first answer came.
    uploads = [
        (camera, now - timedelta(minutes=1, seconds=index))
        for camera in cameras
        for index in range(CLIPS_PER_CAMERA)
    ] * 2

    def send(job: tuple[dict[str, str], datetime]) -> tuple[str, str, int, str]:
        camera, started = job
        with httpx.Client(base_url=base, timeout=60) as client:
            response = client.post(
                "/v1/device/clips",
                data={"started_at": started.isoformat(), "duration_s": "20", "kind": "motion"},
                files={"video": ("clip.mp4", VIDEO, "video/mp4")},
                headers={"Authorization": f"Device {camera['device_token']}"},
            )
        assert response.status_code in (200, 201), response.text
        return camera["id"], started.isoformat(), response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, uploads))
    ids_by_upload: dict[tuple[str, str], set[str]] = {}
    codes_by_upload: dict[tuple[str, str], Counter[int]] = {}
    for camera_id, started, code, clip_id in answers:
        ids_by_upload.setdefault((camera_id, started), set()).add(clip_id)
        codes_by_upload.setdefault((camera_id, started), Counter())[code] += 1
    assert all(len(ids) == 1 for ids in ids_by_upload.values())  # both answers: one clip
    assert all(codes == Counter({201: 1, 200: 1}) for codes in codes_by_upload.values())
    assert sum(1 for _ in clips.rglob("*.mp4")) == CAMERAS * CLIPS_PER_CAMERA  # bytes once
    with httpx.Client(base_url=base, timeout=60) as http:
        for camera in cameras:
            listed = http.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()
            assert len(listed["items"]) == CLIPS_PER_CAMERA


def test_v7_range_playback_over_http(http: httpx.Client, admin: dict[str, str]) -> None:
    """Issue 11: a real server streams one range (206), refuses one past the end (416),
    answers several ranges with the whole clip (200) and HEAD without a body."""
    data = mp4_like(4096, lambda n: bytes(i % 251 for i in range(n)))
    headers = _owner(http)
    camera = _register(http, headers, "KC120")
    started = _now(http, admin) - timedelta(minutes=1)
    uploaded = http.post(
        "/v1/device/clips",
        data={"started_at": started.isoformat(), "duration_s": "20", "kind": "motion"},
        files={"video": ("clip.mp4", data, "video/mp4")},
        headers={"Authorization": f"Device {camera['device_token']}"},
    )
    assert uploaded.status_code == 201, uploaded.text
    url = http.get(f"/v1/clips/{uploaded.json()['id']}", headers=headers).json()["playback_url"]
    part = http.get(url, headers={"Range": "bytes=1000-1999"})
    assert (part.status_code, part.content) == (206, data[1000:2000])
    assert part.headers["content-range"] == "bytes 1000-1999/4096"
    assert (part.headers["accept-ranges"], part.headers["x-content-type-options"]) == (
        "bytes",
        "nosniff",
    )
    past = http.get(url, headers={"Range": "bytes=4096-"})
    assert (past.status_code, past.headers["content-range"]) == (416, "bytes */4096")
    several = http.get(url, headers={"Range": "bytes=0-9,100-199"})
    assert (several.status_code, several.content) == (200, data)
    head = http.head(url, headers={"Range": "bytes=-96"})
    assert (head.status_code, head.content) == (206, b"")
    assert (head.headers["content-range"], head.headers["content-length"]) == (
        "bytes 4000-4095/4096",
        "96",
    )


def test_issue_11_item_3_a_real_mp4_gets_its_media_and_a_poster_over_http(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    """The media job runs in the server on the clock's advance: a real H.264 MP4 (made by
    PyAV here) gets its duration, codec and size, and a JPEG poster served as image/jpeg."""
    headers = _owner(http)
    camera = _register(http, headers, "KC120")
    started = _now(http, admin) - timedelta(minutes=1)
    uploaded = http.post(
        "/v1/device/clips",
        data={"started_at": started.isoformat(), "duration_s": "2", "kind": "motion"},
        files={"video": ("clip.mp4", make_mp4(seconds=2, width=96, height=64), "video/mp4")},
        headers={"Authorization": f"Device {camera['device_token']}"},
    )
    assert uploaded.status_code == 201, uploaded.text
    clip_url = f"/v1/clips/{uploaded.json()['id']}"
    assert http.get(clip_url, headers=headers).json()["thumbnail_url"] is None
    http.post("/v1/admin/clock/advance", json={"seconds": 1}, headers=admin)
    clip = http.get(clip_url, headers=headers).json()
    assert clip["media"] == {"duration_ms": 2000, "codec": "h264", "width": 96, "height": 64}
    poster = http.get(clip["thumbnail_url"])
    assert poster.status_code == 200
    assert (poster.headers["content-type"], poster.content[:3]) == ("image/jpeg", b"\xff\xd8\xff")
