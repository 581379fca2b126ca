"""The activity center's list both ways (issue 11 item 4, V7): `next_cursor` pages to older
entries, `newer_cursor` with `direction=newer` back; `kind` filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.kit.clock import FixedClock
from tests.conftest import START
from tests.factories import VIDEO, owner, register_camera


def test_v7_pages_go_older_then_newer_and_kind_filters(
    client: TestClient, clock: FixedClock
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    starts = [START - timedelta(minutes=10 * n) for n in range(1, 8)]  # newest first
    for number, started_at in enumerate(starts):
        response = client.post(
            "/v1/device/clips",
            data={
                "started_at": started_at.isoformat(),
                "duration_s": "20",
                "kind": "manual" if number % 3 == 0 else "motion",
            },
            files={"video": ("clip.mp4", VIDEO, "video/mp4")},
            headers={"Authorization": f"Device {camera['device_token']}"},
        )
        assert response.status_code == 201, response.text
    path = f"/v1/cameras/{camera['id']}/clips"

    def listing(**params: Any) -> dict[str, Any]:
        response = client.get(path, params={"limit": 3, **params}, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def minutes(body: dict[str, Any]) -> list[int]:
        return [
            int((START - _at(item["started_at"])).total_seconds() // 60) for item in body["items"]
        ]

    first = listing()
    assert (minutes(first), first["newer_cursor"]) == ([10, 20, 30], None)
    second = listing(cursor=first["next_cursor"])
    assert minutes(second) == [40, 50, 60]
    third = listing(cursor=second["next_cursor"])
    assert (minutes(third), third["next_cursor"]) == ([70], None)
    back = listing(cursor=third["newer_cursor"], direction="newer")
    assert minutes(back) == [40, 50, 60]  # still newest first
    top = listing(cursor=back["newer_cursor"], direction="newer")
    assert (minutes(top), top["newer_cursor"]) == ([10, 20, 30], None)
    assert top["next_cursor"] == first["next_cursor"]

    manual = listing(kind="manual", limit=10)
    assert minutes(manual) == [10, 40, 70]
    assert {item["kind"] for item in manual["items"]} == {"manual"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)
