"""Playback of a clip from the local disk over HTTP, with Range (SPEC V7; issue 11, item 1):
206 for one range, 416 past the end, 200 with the whole clip for several ranges, HEAD with
the same headers and no body; erasure still answers 410 whatever the Range. On S3 (moto's
server), `GET /v1/clips/{id}` hands out presigned S3 URLs and S3 answers the Range."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from kasacare.app import create_app
from kasacare.clips.mp4 import mp4_like
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.clips.conftest import s3_storage
from tests.clips.test_clips import NOW, upload
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

#: 1,000 bytes, each position recognisable: the header, then 0, 1, ..., 250, 0, 1, ...
DATA = mp4_like(1000, lambda n: bytes(i % 251 for i in range(n)))
SIZE = len(DATA)


@pytest.fixture
def at_now(clock: FixedClock) -> FixedClock:
    clock.set(NOW)
    return clock


def _clip(
    client: TestClient, *, paid: bool = False, email: str = "owner@example.com"
) -> tuple[dict[str, Any], dict[str, str]]:
    """A clip of DATA on a KC120 (free plan, or Premium with `paid`): its `GET /v1/clips/{id}`
    answer and the owner's headers."""
    _, headers = owner(client, email)
    camera = register_camera(client, headers, "KC120")
    if paid:
        card_on_file(client, headers)
        subscribe(client, headers, [camera["id"]])
    uploaded = upload(client, camera["device_token"], NOW - timedelta(minutes=10), data=DATA)
    assert uploaded.status_code == 201
    clip = client.get(f"/v1/clips/{uploaded.json()['id']}", headers=headers).json()
    return {**clip, "camera": camera}, headers


def _media_headers(response: Any) -> dict[str, str]:
    """The headers every media answer carries, as received."""
    names = ("accept-ranges", "content-type", "cache-control", "x-content-type-options")
    return {name: response.headers.get(name) for name in names}


MEDIA_HEADERS = {
    "accept-ranges": "bytes",
    "content-type": "video/mp4",
    "cache-control": "private, max-age=0, no-store",
    "x-content-type-options": "nosniff",
}


@pytest.mark.parametrize(
    ("range_", "first", "last"),
    [
        pytest.param("bytes=0-99", 0, 99, id="first-bytes"),
        pytest.param("bytes=400-499", 400, 499, id="middle"),
        pytest.param("bytes=-100", 900, 999, id="suffix"),
        pytest.param("bytes=100-", 100, 999, id="open-ended"),
        pytest.param("bytes=900-5000", 900, 999, id="end-past-the-size-is-cut"),
        pytest.param("bytes=-5000", 0, 999, id="suffix-longer-than-the-clip"),
    ],
)
def test_v7_range_one_range_answers_206_with_exactly_its_bytes(
    client: TestClient, at_now: FixedClock, range_: str, first: int, last: int
) -> None:
    clip, _ = _clip(client)
    response = client.get(clip["playback_url"], headers={"Range": range_})
    assert response.status_code == 206
    assert response.content == DATA[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
    assert response.headers["content-length"] == str(last + 1 - first)
    assert _media_headers(response) == MEDIA_HEADERS


def test_v7_range_without_range_answers_200_with_the_whole_clip_and_accept_ranges(
    client: TestClient, at_now: FixedClock
) -> None:
    clip, _ = _clip(client)
    response = client.get(clip["playback_url"])
    assert (response.status_code, response.content) == (200, DATA)
    assert response.headers["content-length"] == str(SIZE)
    assert "content-range" not in response.headers
    assert _media_headers(response) == MEDIA_HEADERS


@pytest.mark.parametrize(
    "range_",
    [
        pytest.param("bytes=0-9,20-29", id="two-ranges"),
        pytest.param("bytes=0-9, 500-", id="two-ranges-with-space"),
        pytest.param("items=0-9", id="unknown-unit"),
    ],
)
def test_v7_range_several_ranges_or_another_unit_answer_200_with_the_whole_clip(
    client: TestClient, at_now: FixedClock, range_: str
) -> None:
    """Our documented choice (README, `clips.media`): no multipart/byteranges."""
    clip, _ = _clip(client)
    response = client.get(clip["playback_url"], headers={"Range": range_})
    assert (response.status_code, response.content) == (200, DATA)
    assert "content-range" not in response.headers
    assert _media_headers(response) == MEDIA_HEADERS


@pytest.mark.parametrize("range_", ["bytes=1000-", "bytes=1000-1100", "bytes=5000-", "bytes=-0"])
def test_v7_range_beyond_the_end_answers_416_with_the_size(
    client: TestClient, at_now: FixedClock, range_: str
) -> None:
    clip, _ = _clip(client)
    response = client.get(clip["playback_url"], headers={"Range": range_})
    assert (response.status_code, response.content) == (416, b"")
    assert response.headers["content-range"] == f"bytes */{SIZE}"


def test_v7_range_head_answers_the_same_headers_without_a_body(
    client: TestClient, at_now: FixedClock
) -> None:
    clip, _ = _clip(client)
    whole = client.head(clip["playback_url"])
    assert (whole.status_code, whole.content) == (200, b"")
    assert whole.headers["content-length"] == str(SIZE)
    assert _media_headers(whole) == MEDIA_HEADERS
    part = client.head(clip["playback_url"], headers={"Range": "bytes=100-199"})
    assert (part.status_code, part.content) == (206, b"")
    assert part.headers["content-range"] == f"bytes 100-199/{SIZE}"
    assert part.headers["content-length"] == "100"
    assert _media_headers(part) == MEDIA_HEADERS


def test_v7_range_download_answers_206_as_an_attachment(
    client: TestClient, at_now: FixedClock
) -> None:
    clip, _ = _clip(client, paid=True)
    response = client.get(clip["download_url"], headers={"Range": "bytes=-24"})
    assert (response.status_code, response.content) == (206, DATA[-24:])
    assert response.headers["content-range"] == f"bytes 976-999/{SIZE}"
    assert response.headers["content-disposition"] == f'attachment; filename="{clip["id"]}.mp4"'
    assert _media_headers(response) == MEDIA_HEADERS


def test_v7_range_an_erased_clip_still_answers_410_and_an_expired_link_403(
    client: TestClient, at_now: FixedClock
) -> None:
    clip, headers = _clip(client)
    client.delete(
        f"/v1/cameras/{clip['camera']['id']}?confirm=true", headers=headers
    )  # C6 erases its clips
    for method in ("GET", "HEAD"):
        erased = client.request(method, clip["playback_url"], headers={"Range": "bytes=0-99"})
        assert erased.status_code == 410, method
    erased = client.get(clip["playback_url"], headers={"Range": "bytes=0-99"})
    assert erased.headers["content-type"] == "application/problem+json"
    assert erased.json()["code"] == "clip_no_longer_available"
    at_now.advance(timedelta(seconds=300))
    expired = client.get(clip["playback_url"], headers={"Range": "bytes=0-99"})
    assert (expired.status_code, expired.json()["code"]) == (403, "forbidden")


def test_v7_range_on_s3_clip_urls_are_presigned_s3_urls_for_300_seconds(
    context: AppContext, at_now: FixedClock, s3_endpoint: str
) -> None:
    """Issue 11: S3 serves the bytes and the Range itself; whether the clip is still held is
    checked when the URLs are issued; the download URL makes S3 send the attachment header."""
    on_s3 = dataclasses.replace(context, storage=s3_storage(s3_endpoint))
    with TestClient(create_app(on_s3)) as client:
        clip, _ = _clip(client, paid=True)
        for url in (clip["playback_url"], clip["download_url"]):
            assert url.startswith(f"{s3_endpoint}/"), url
            assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["300"]
        part = httpx.get(clip["playback_url"], headers={"Range": "bytes=-100"})
        assert (part.status_code, part.content) == (206, DATA[900:])
        assert part.headers["content-range"] == f"bytes 900-999/{SIZE}"
        downloaded = httpx.get(clip["download_url"], headers={"Range": "bytes=0-99"})
        assert (downloaded.status_code, downloaded.content) == (206, DATA[:100])
        assert downloaded.headers["content-disposition"] == (
            f'attachment; filename="{clip["id"]}.mp4"'
        )
        free, headers = _clip(client, email="free@example.com")
        at_now.advance(timedelta(hours=48))  # its 48 h window has passed
        headers = token_for(client, "free@example.com")  # a fresh sign-in
        erased = client.get(f"/v1/clips/{free['id']}", headers=headers)
        assert (erased.status_code, erased.json()["code"]) == (410, "clip_no_longer_available")
