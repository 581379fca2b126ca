"""Direct uploads to object storage over HTTP (issue 11, item 2): a real `kasacare serve` whose
clips live in moto's S3 server (a real process too). The camera PUTs to S3 itself; the
server never sees the bytes, checks the object on completion, and its sweep (run by the
test clock's advance) deletes an upload never completed after an hour."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from rich.console import Console

from kasacare.clips.mp4 import mp4_like
from kasacare.clips.storage_s3 import S3Storage
from kasacare.simulator import SimulationConfig, simulate
from tests.clips import conftest as clip_fixtures
from tests.clips.conftest import s3_storage
from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.e2e.test_foundation_http import _now, _owner, _register

# moto's S3 server and the AWS environment it needs, as the clip tests have them.
aws_env = clip_fixtures.aws_env
s3_endpoint = clip_fixtures.s3_endpoint

DATA = mp4_like(4096, lambda n: bytes(i % 251 for i in range(n)))


@pytest.fixture(scope="module")
def on_s3(
    backend: str, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, S3Storage]]:
    """A server storing clips in a fresh bucket of moto's server; that bucket, to look in."""
    directory = tmp_path_factory.mktemp(f"s3-{backend}")
    bucket = f"clips-{uuid.uuid4().hex[:20]}"
    storage = s3_storage(s3_endpoint, bucket)
    with fresh_database(backend, directory) as database_url:
        env = server_env(database_url, directory)
        env["KASACARE_STORAGE_URL"] = (
            f"s3://{bucket}?endpoint={s3_endpoint}&region=us-east-1&create_bucket=1"
        )
        with running_server(env, directory / "server.log") as base:
            yield base, storage


def test_issue_11_item_2_a_camera_puts_to_s3_and_the_server_only_keeps_the_metadata(
    on_s3: tuple[str, S3Storage],
) -> None:
    base, storage = on_s3
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        headers = _owner(http)
        camera = _register(http, headers, "KC120")
        device = {"Authorization": f"Device {camera['device_token']}"}
        now = _now(http, admin)

        def begin(started: int) -> dict[str, str]:
            declared = {
                "started_at": (now - timedelta(minutes=started)).isoformat(),
                "duration_s": 20,
                "kind": "motion",
                "size": len(DATA),
                "content_type": "video/mp4",
            }
            begun = http.post("/v1/device/clip-uploads", json=declared, headers=device)
            assert begun.status_code == 201, begun.text
            ticket: dict[str, str] = begun.json()
            put = httpx.put(ticket["url"], content=DATA, headers={"Content-Type": "video/mp4"})
            assert put.status_code == 200
            return ticket

        ticket, left = begin(1), begin(2)
        complete = f"/v1/device/clip-uploads/{ticket['upload_id']}/complete"
        done = http.post(complete, headers=device)
        assert done.status_code == 201, done.text
        again = http.post(complete, headers=device)
        assert (again.status_code, again.json()) == (200, done.json())

        clip = http.get(f"/v1/clips/{done.json()['id']}", headers=headers).json()
        part = httpx.get(clip["playback_url"], headers={"Range": "bytes=1000-1999"})
        assert (part.status_code, part.content) == (206, DATA[1000:2000])

        # The other upload is never completed: an hour on, the sweep deletes its object.
        left_key = _key_of(left["url"], storage.bucket)
        assert storage.exists(left_key)
        moved = http.post("/v1/admin/clock/advance", json={"seconds": 3600}, headers=admin)
        assert moved.status_code == 200, moved.text
        assert not storage.exists(left_key)
        late = http.post(f"/v1/device/clip-uploads/{left['upload_id']}/complete", headers=device)
        assert (late.status_code, late.json()["code"]) == (410, "upload_abandoned")
        assert storage.exists(_key_of(ticket["url"], storage.bucket))  # the clip's stays


def _key_of(url: str, bucket: str) -> str:
    """The object key of a path-style presigned URL (`/bucket/key?...`)."""
    path = httpx.URL(url).path
    prefix = f"/{bucket}/"
    assert path.startswith(prefix), url
    return path.removeprefix(prefix)


def test_issue_11_item_2_the_simulator_sends_its_fleet_straight_to_object_storage(
    on_s3: tuple[str, S3Storage],
) -> None:
    """`kasacare simulate` uploads directly where the service stores clips on S3: every clip
    it stored is one object under its camera (a retry's own object is deleted), and the
    camera without cloud recording is refused before any PUT."""
    base, storage = on_s3
    report = simulate(
        SimulationConfig(cameras=3, hours=2, url=base, admin_token=ADMIN_TOKEN, seed=11),
        Console(file=io.StringIO()),
    )
    assert report.direct
    free, _, bare = report.cameras
    assert (free.model, bare.model) == ("KC120", "KC115")
    assert free.uploaded > 0
    assert bare.uploaded == 0 and bare.refused

    def objects(camera_id: str) -> int:
        listed = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=f"{camera_id}/")
        return int(listed["KeyCount"])

    assert objects(free.id) == free.uploaded
    assert objects(bare.id) == 0
