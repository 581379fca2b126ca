"""Datetime parameters are aware and bounded (issue 13, hardening): a naive time or
`to=0001-01-01T00:00:00+01:00` answered 500; now every one answers 422 `validation_error`,
and an accepted one is read in UTC."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from kasacare.clips.mp4 import mp4_like
from kasacare.kit.clock import FixedClock
from kasacare.kit.schemas import utc_instant
from tests.clips.test_clips import NOW
from tests.factories import owner, register_camera


def test_an_instant_is_aware_bounded_and_answered_in_utc() -> None:
    paris = datetime(2026, 12, 6, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    assert utc_instant(paris) == datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert utc_instant(paris).tzinfo is UTC
    for bad, why in [
        (datetime(2026, 12, 6, 11, 0), "must carry its time zone"),  # noqa: DTZ001
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "between 1970 and 2099"),
        (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))), "between"),
    ]:
        with pytest.raises(ValueError, match=why):
            utc_instant(bad)


@pytest.mark.parametrize(
    "query",
    [
        {"to": "0001-01-01T00:00:00+01:00"},
        {"from": "9999-12-31T23:59:59-01:00"},
        {"from": "2026-04-01T10:00:00"},  # naive
        {"to": "not a time"},
        {"cursor": base64.urlsafe_b64encode(b"2026-04-01T10:00:00|" + b"0" * 32).decode()},
        {"cursor": base64.urlsafe_b64encode(b"0001-01-01T00:00:00+01:00|" + b"0" * 32).decode()},
    ],
    ids=["year-1", "year-9999", "naive", "garbage", "naive-cursor", "year-1-cursor"],
)
def test_a_bad_time_in_a_clip_list_query_is_422(
    client: TestClient, clock: FixedClock, query: dict[str, str]
) -> None:
    clock.set(NOW)
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    response = client.get(f"/v1/cameras/{camera['id']}/clips", params=query, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


def test_an_aware_time_in_any_zone_is_read_in_utc(client: TestClient, clock: FixedClock) -> None:
    clock.set(NOW)
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    response = client.get(
        f"/v1/cameras/{camera['id']}/clips",
        params={"from": "2026-04-01T13:00:00+02:00", "to": "2026-04-01T12:30:00Z"},
        headers=headers,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "started_at", ["2026-04-01T11:50:00", "0001-01-01T00:00:00+01:00", "2150-01-01T00:00:00Z"]
)
def test_an_upload_with_a_naive_or_absurd_start_is_422_and_stores_nothing(
    client: TestClient, clock: FixedClock, started_at: str
) -> None:
    clock.set(NOW)
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    response = client.post(
        "/v1/device/clips",
        data={"started_at": started_at, "duration_s": "20", "kind": "motion"},
        files={"video": ("clip.mp4", mp4_like(2048), "video/mp4")},
        headers={"Authorization": f"Device {camera['device_token']}"},
    )
    assert response.status_code == 422, response.text
    listed = client.get(f"/v1/cameras/{camera['id']}/clips", headers=headers).json()
    assert listed["items"] == []
