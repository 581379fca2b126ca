"""Direct uploads to object storage (issue 11, item 2), against moto's S3 server as a real
process: the camera PUTs the bytes with a presigned URL (httpx, no byte through the API),
completes, and the clip plays from a presigned GET with Range. Refusals (a late completion,
a wrong size, no object, a cancelled plan, not an MP4) delete the object; completing again
answers the same clip; the sweeper deletes uploads never completed after an hour.

moto checks neither a presigned URL's life nor its signed headers (S3 refuses a PUT after
`X-Amz-Expires`, or of another `Content-Length` or `Content-Type`, with 403): the tests
check that the URL is signed so, and that the service refuses what S3 would not have
(completion after the upload's `expires_at`, a wrong size) by itself.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.app import create_app
from kasacare.clips.direct_upload import ABANDON_AFTER, UPLOAD_URL_TTL, complete
from kasacare.clips.ingest import Stored
from kasacare.clips.models import Clip, ClipUpload
from kasacare.clips.mp4 import mp4_like
from kasacare.clips.storage import BlobHead, ClipBlobMissing, ClipStorage, LocalDiskStorage
from kasacare.clips.storage_s3 import S3Storage
from kasacare.context import AppContext
from kasacare.jobs import sweep_clips
from kasacare.kit.clock import FixedClock
from kasacare.kit.security import token_digest
from tests.clips.conftest import s3_storage
from tests.clips.test_clips import NOW, iso, upload
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

#: 1,000 bytes, each position recognisable: the header, then 0, 1, ..., 250, 0, 1, ...
DATA = mp4_like(1000, lambda n: bytes(i % 251 for i in range(n)))
STARTED = NOW - timedelta(minutes=10)


@pytest.fixture
def at_now(clock: FixedClock) -> FixedClock:
    clock.set(NOW)
    return clock


@dataclasses.dataclass
class OnS3:
    client: TestClient
    context: AppContext
    storage: S3Storage
    clock: FixedClock


@pytest.fixture
def s3(context: AppContext, at_now: FixedClock, s3_endpoint: str) -> Iterator[OnS3]:
    """The app with its clips in a fresh bucket of moto's server."""
    storage = s3_storage(s3_endpoint)
    on_s3 = dataclasses.replace(context, storage=storage)
    with TestClient(create_app(on_s3), raise_server_exceptions=False) as client:
        yield OnS3(client, on_s3, storage, at_now)


def _device(token: str) -> dict[str, str]:
    return {"Authorization": f"Device {token}"}


def _camera(client: TestClient, model: str = "KC120", email: str = "owner@example.com") -> str:
    """A camera's device token (a KC120 records on the free plan, 48 h)."""
    _, headers = owner(client, email)
    return str(register_camera(client, headers, model)["device_token"])


def _begin(
    client: TestClient, token: str, *, size: int = len(DATA), **fields: Any
) -> httpx.Response:
    body = {
        "started_at": iso(STARTED),
        "duration_s": 20,
        "kind": "motion",
        "size": size,
        "content_type": "video/mp4",
        **fields,
    }
    response: httpx.Response = client.post(
        "/v1/device/clip-uploads", json=body, headers=_device(token)
    )
    return response


def _put(ticket: dict[str, Any], data: bytes = DATA) -> httpx.Response:
    """The camera's PUT, straight to S3, with the headers the ticket names."""
    headers = dict(ticket["headers"])
    headers.pop("Content-Length")  # httpx sends the body's own length
    return httpx.request(ticket["method"], ticket["url"], content=data, headers=headers)


def _complete(client: TestClient, token: str, upload_id: str) -> httpx.Response:
    path = f"/v1/device/clip-uploads/{upload_id}/complete"
    response: httpx.Response = client.post(path, headers=_device(token))
    return response


def _upload_row(context: AppContext, upload_id: str) -> ClipUpload:
    with context.sessions() as session:
        row = session.scalar(select(ClipUpload).where(ClipUpload.id == uuid.UUID(upload_id)))
        assert row is not None
        return row


def _clips(context: AppContext) -> list[Clip]:
    with context.sessions() as session:
        return list(session.scalars(select(Clip)))


def _ready(s3: OnS3, token: str) -> dict[str, Any]:
    """A begun upload whose bytes are on S3: its ticket."""
    begun = _begin(s3.client, token)
    assert begun.status_code == 201, begun.text
    ticket: dict[str, Any] = begun.json()
    assert _put(ticket).status_code == 200
    return ticket


def _key(s3: OnS3, ticket: dict[str, Any]) -> str:
    return _upload_row(s3.context, ticket["upload_id"]).storage_key


# --- the whole path ------------------------------------------------------------------------


def test_issue_11_item_2_put_to_s3_complete_then_play_a_range_from_s3(s3: OnS3) -> None:
    _, headers = owner(s3.client)
    camera = register_camera(s3.client, headers, "KC120")
    token = camera["device_token"]
    begun = _begin(s3.client, token)
    assert begun.status_code == 201, begun.text
    ticket = begun.json()
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == {"Content-Type": "video/mp4", "Content-Length": "1000"}
    assert ticket["expires_at"] == iso(NOW + UPLOAD_URL_TTL)
    url = urlsplit(ticket["url"])
    assert ticket["url"].startswith(f"{s3.storage.endpoint_url}/{s3.storage.bucket}/")
    query = parse_qs(url.query)
    # S3 refuses the PUT after 15 min, or of another size or type: those are signed.
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]

    assert _put(ticket).status_code == 200  # no byte through the API
    completed = _complete(s3.client, token, ticket["upload_id"])
    assert completed.status_code == 201, completed.text
    clip = completed.json()
    assert clip["camera_id"] == camera["id"]
    assert clip["started_at"] == iso(STARTED)
    assert clip["expires_at"] == iso(STARTED + timedelta(hours=48))  # the free plan's window
    row = _upload_row(s3.context, ticket["upload_id"])
    assert (row.completed_at, str(row.clip_id), row.abandoned_at) == (NOW, clip["id"], None)
    [stored] = _clips(s3.context)
    assert (stored.storage_key, stored.size, stored.content_type) == (
        row.storage_key,
        1000,
        "video/mp4",
    )

    # Completing again (a lost answer) is the same clip, 200; nothing more is stored.
    again = _complete(s3.client, token, ticket["upload_id"])
    assert (again.status_code, again.json()) == (200, clip)
    assert len(_clips(s3.context)) == 1

    # Playback: a presigned S3 GET; S3 answers the Range.
    read = s3.client.get(f"/v1/clips/{clip['id']}", headers=headers).json()
    assert read["playback_url"].startswith(f"{s3.storage.endpoint_url}/")
    part = httpx.get(read["playback_url"], headers={"Range": "bytes=400-499"})
    assert (part.status_code, part.content) == (206, DATA[400:500])
    assert part.headers["content-range"] == "bytes 400-499/1000"


def test_issue_11_item_2_two_uploads_of_one_clip_store_it_once(s3: OnS3) -> None:
    """The same camera and `started_at` twice (a camera that began again): the second
    completion answers the first clip (200), like a retried multipart upload, and its own
    object is deleted."""
    token = _camera(s3.client)
    first, second = _ready(s3, token), _ready(s3, token)
    done = _complete(s3.client, token, first["upload_id"])
    repeat = _complete(s3.client, token, second["upload_id"])
    assert (done.status_code, repeat.status_code) == (201, 200)
    assert repeat.json() == done.json()
    assert s3.storage.exists(_key(s3, first))
    assert not s3.storage.exists(_key(s3, second))
    assert len(_clips(s3.context)) == 1


def test_issue_11_item_2_completions_at_once_store_one_clip(s3: OnS3) -> None:
    """Two completions of one upload side by side (a camera that timed out and tried again):
    the upload row's lock lets one store the clip; the other answers that clip."""
    token = _camera(s3.client)
    ticket = _ready(s3, token)
    digest = token_digest(token)
    start = threading.Barrier(2)

    def completion() -> Stored:
        start.wait()
        return complete(
            s3.context.engine,
            s3.context.catalog,
            s3.storage,
            s3.clock.now,
            digest,
            uuid.UUID(ticket["upload_id"]),
        )

    with ThreadPoolExecutor(2) as pool:
        answers = [future.result() for future in [pool.submit(completion) for _ in range(2)]]
    assert sorted(answer.created for answer in answers) == [False, True]
    assert answers[0].id == answers[1].id
    assert [clip.id for clip in _clips(s3.context)] == [answers[0].id]


# --- refusals ------------------------------------------------------------------------------


def test_issue_11_item_2_a_completion_after_the_url_expired_is_refused_and_the_object_deleted(
    s3: OnS3,
) -> None:
    token = _camera(s3.client)
    ticket = _ready(s3, token)
    key = _key(s3, ticket)
    s3.clock.advance(UPLOAD_URL_TTL)  # `expires_at` itself: too late
    late = _complete(s3.client, token, ticket["upload_id"])
    assert (late.status_code, late.json()["code"]) == (410, "upload_expired")
    assert not s3.storage.exists(key)
    assert _clips(s3.context) == []
    assert _upload_row(s3.context, ticket["upload_id"]).abandoned_at == NOW + UPLOAD_URL_TTL
    again = _complete(s3.client, token, ticket["upload_id"])
    assert (again.status_code, again.json()["code"]) == (410, "upload_abandoned")


def test_issue_11_item_2_an_object_of_another_size_is_refused_and_deleted(s3: OnS3) -> None:
    token = _camera(s3.client)
    ticket = _begin(s3.client, token).json()
    # S3 itself refuses this PUT (Content-Length is signed); moto takes it.
    assert _put(ticket, DATA + b"more").status_code == 200
    key = _key(s3, ticket)
    refused = _complete(s3.client, token, ticket["upload_id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "upload_size_mismatch")
    assert not s3.storage.exists(key)
    assert _clips(s3.context) == []
    assert _upload_row(s3.context, ticket["upload_id"]).abandoned_at == NOW


def test_issue_11_item_2_a_completion_without_an_object_is_refused_and_may_come_again(
    s3: OnS3,
) -> None:
    token = _camera(s3.client)
    ticket = _begin(s3.client, token).json()
    early = _complete(s3.client, token, ticket["upload_id"])
    assert (early.status_code, early.json()["code"]) == (409, "upload_object_missing")
    assert _upload_row(s3.context, ticket["upload_id"]).abandoned_at is None
    # The upload stays open while its URL lasts: PUT, then complete.
    assert _put(ticket).status_code == 200
    assert _complete(s3.client, token, ticket["upload_id"]).status_code == 201


def test_issue_11_item_2_a_completion_after_a_cancel_is_refused_and_the_object_deleted(
    s3: OnS3,
) -> None:
    """A KC105 records only on a paid plan: cancelled between the PUT and the completion,
    the re-check under the camera's coverage lock refuses it as the multipart path does."""
    _, headers = owner(s3.client)
    card_on_file(s3.client, headers)
    camera = register_camera(s3.client, headers, "KC105")
    subscribe(s3.client, headers, [camera["id"]])
    token = camera["device_token"]
    ticket = _ready(s3, token)
    key = _key(s3, ticket)
    cancelled = s3.client.delete(
        "/v1/subscription", headers=token_for(s3.client, "owner@example.com")
    )
    assert cancelled.status_code == 200, cancelled.text
    refused = _complete(s3.client, token, ticket["upload_id"])
    assert (refused.status_code, refused.json()["code"]) == (403, "no_cloud_recording")
    assert not s3.storage.exists(key)
    assert _clips(s3.context) == []
    again = _complete(s3.client, token, ticket["upload_id"])
    assert (again.status_code, again.json()["code"]) == (410, "upload_abandoned")


def test_issue_11_item_2_an_object_that_is_not_an_mp4_is_refused_and_deleted(s3: OnS3) -> None:
    token = _camera(s3.client)
    ticket = _begin(s3.client, token).json()
    assert _put(ticket, b"GIF89a" + bytes(994)).status_code == 200
    key = _key(s3, ticket)
    refused = _complete(s3.client, token, ticket["upload_id"])
    assert (refused.status_code, refused.json()["code"]) == (415, "not_mp4")
    assert not s3.storage.exists(key)


def test_issue_11_item_2_an_object_of_another_type_is_refused_and_deleted(s3: OnS3) -> None:
    token = _camera(s3.client)
    ticket = _begin(s3.client, token).json()
    # S3 itself refuses this PUT (Content-Type is signed); moto takes it.
    put = httpx.put(ticket["url"], content=DATA, headers={"Content-Type": "image/gif"})
    assert put.status_code == 200
    key = _key(s3, ticket)
    refused = _complete(s3.client, token, ticket["upload_id"])
    assert (refused.status_code, refused.json()["code"]) == (415, "unsupported_media_type")
    assert not s3.storage.exists(key)


def test_issue_11_item_2_another_cameras_upload_is_not_found_and_a_bad_token_401(
    s3: OnS3,
) -> None:
    token = _camera(s3.client)
    other = _camera(s3.client, email="other@example.com")
    ticket = _ready(s3, token)
    stranger = _complete(s3.client, other, ticket["upload_id"])
    assert (stranger.status_code, stranger.json()["code"]) == (404, "not_found")
    forged = _complete(s3.client, "kc_dev_forged", ticket["upload_id"])
    assert forged.status_code == 401
    assert s3.storage.exists(_key(s3, ticket))  # neither touched it
    assert _complete(s3.client, token, ticket["upload_id"]).status_code == 201


def test_issue_11_item_2_begin_makes_the_checks_of_the_multipart_upload(s3: OnS3) -> None:
    token = _camera(s3.client)
    limit = s3.context.settings.clip_max_bytes
    cases = {
        "wrong type": (_begin(s3.client, token, content_type="image/png"), 415),
        "too large": (_begin(s3.client, token, size=limit + 1), 413),
        "outside the window": (
            _begin(s3.client, token, started_at=iso(NOW - timedelta(hours=49))),
            422,
        ),
        "no zone": (_begin(s3.client, token, started_at="2026-04-01T11:50:00"), 422),
        "empty": (_begin(s3.client, token, size=0), 422),
        "forged token": (_begin(s3.client, "kc_dev_forged"), 401),
    }
    assert {name: answer.status_code for name, (answer, _) in cases.items()} == {
        name: status for name, (_, status) in cases.items()
    }
    assert cases["wrong type"][0].json()["code"] == "unsupported_media_type"
    assert cases["too large"][0].json()["code"] == "clip_too_large"
    no_plan = _begin(s3.client, _camera(s3.client, "KC105", email="kc105@example.com"))
    assert (no_plan.status_code, no_plan.json()["code"]) == (403, "no_cloud_recording")
    with s3.context.sessions() as session:
        assert list(session.scalars(select(ClipUpload))) == []


def test_issue_11_item_2_on_the_local_disk_direct_upload_is_unavailable(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    """Clips on the local disk go through the app (`POST /v1/device/clips`)."""
    token = _camera(client)
    refused = _begin(client, token)
    assert (refused.status_code, refused.json()["code"]) == (409, "direct_upload_unavailable")
    assert upload(client, token, STARTED).status_code == 201


# --- the sweeper ---------------------------------------------------------------------------


def test_issue_11_item_2_the_sweeper_deletes_uploads_never_completed_after_an_hour(
    s3: OnS3,
) -> None:
    token = _camera(s3.client)
    left = _ready(s3, token)
    done = _begin(s3.client, token, started_at=iso(STARTED + timedelta(minutes=1))).json()
    assert _put(done).status_code == 200
    assert _complete(s3.client, token, done["upload_id"]).status_code == 201
    left_key, done_key = _key(s3, left), _key(s3, done)

    sweep_clips(s3.context, NOW + ABANDON_AFTER - timedelta(seconds=1))
    assert s3.storage.exists(left_key)
    assert _upload_row(s3.context, left["upload_id"]).abandoned_at is None

    sweep_clips(s3.context, NOW + ABANDON_AFTER)
    assert not s3.storage.exists(left_key)
    assert _upload_row(s3.context, left["upload_id"]).abandoned_at == NOW + ABANDON_AFTER
    assert s3.storage.exists(done_key)  # a completed upload's object is its clip's
    assert _upload_row(s3.context, done["upload_id"]).abandoned_at is None
    s3.clock.set(NOW + ABANDON_AFTER)
    late = _complete(s3.client, token, left["upload_id"])
    assert (late.status_code, late.json()["code"]) == (410, "upload_abandoned")


# --- the storage contract ------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ClipStorage:
    if request.param == "local":
        return LocalDiskStorage(tmp_path / "clips")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return s3_storage(endpoint)


def test_head_and_read_prefix_read_no_more_than_asked(storage: ClipStorage) -> None:
    storage.put("cam/a.mp4", DATA, "video/mp4")
    type_kept = "video/mp4" if isinstance(storage, S3Storage) else None
    assert storage.head("cam/a.mp4") == BlobHead(1000, type_kept)
    assert storage.read_prefix("cam/a.mp4", 8) == DATA[:8]
    storage.put("cam/short.mp4", b"abc", "video/mp4")
    assert storage.read_prefix("cam/short.mp4", 8) == b"abc"
    storage.put("cam/empty.mp4", b"", "video/mp4")
    assert storage.read_prefix("cam/empty.mp4", 8) == b""
    assert storage.head("cam/empty.mp4").size == 0
    for missing in (storage.head, lambda key: storage.read_prefix(key, 8)):
        with pytest.raises(ClipBlobMissing):
            missing("cam/none.mp4")


def test_presigned_put_is_s3s_and_none_on_the_local_disk(storage: ClipStorage) -> None:
    url = storage.presigned_put("cam/put.mp4", 60, "video/mp4", len(DATA))
    if isinstance(storage, LocalDiskStorage):
        assert url is None
        return
    assert url is not None
    put = httpx.put(url, content=DATA, headers={"Content-Type": "video/mp4"})
    assert put.status_code == 200
    assert storage.get("cam/put.mp4") == DATA


def test_issue_12_item_3_a_direct_manual_upload_answers_its_request(s3: OnS3) -> None:
    _, headers = owner(s3.client)
    camera = register_camera(s3.client, headers, "KC120")
    token = camera["device_token"]
    request = s3.client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers)
    request_id = request.json()["id"]
    refused = _begin(s3.client, token, request_id=request_id)  # a motion clip answers nothing
    assert refused.status_code == 422
    begun = _begin(s3.client, token, kind="manual", started_at=iso(NOW), request_id=request_id)
    assert begun.status_code == 201, begun.text
    assert _put(begun.json()).status_code == 200
    completed = _complete(s3.client, token, begun.json()["upload_id"])
    assert completed.status_code == 201, completed.text
    state = s3.client.get(
        f"/v1/cameras/{camera['id']}/manual-recordings/{request_id}", headers=headers
    ).json()
    assert (state["state"], state["clip_id"]) == ("uploaded", completed.json()["id"])
