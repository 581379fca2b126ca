"""The activity center, the account's time zone and camera removal as pages (issue 11 items
4 and 5), in-process. (The real-browser tests are in tests/web/test_browser.py.)"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.clips.models import ClipKind
from kasacare.clips.storage import LocalDiskStorage
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.conftest import START
from tests.factories import PASSWORD, VIDEO, card_on_file, subscribe
from tests.web.conftest import csrf
from tests.web.seeding import seed_clips


def sign_up(browser: TestClient, time_zone: str = "", email: str = "web@example.com") -> None:
    form = browser.get("/signup")
    assert 'name="time_zone"' in form.text and "data-browser-zone" in form.text
    response = browser.post(
        "/signup",
        data={
            "email": email,
            "password": PASSWORD,
            "country": "US",
            "time_zone": time_zone,
            "csrf_token": csrf(form.text),
        },
    )
    assert "Welcome to Kasa Care" in response.text


def api_headers(browser: TestClient) -> dict[str, str]:
    """The owner's API token: the session cookie holds it (as the Kasa app would)."""
    return {"Authorization": f"Bearer {browser.cookies['kc_session']}"}


def camera(browser: TestClient, model: str = "KC120", name: str = "Porch") -> dict[str, Any]:
    response = browser.post(
        "/v1/cameras",
        json={"model": model, "serial": f"WEB{abs(hash(name)) % 10**8:08d}", "name": name},
        headers=api_headers(browser),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upload(browser: TestClient, device: dict[str, Any], started_at: datetime) -> str:
    response = browser.post(
        "/v1/device/clips",
        data={"started_at": started_at.isoformat(), "duration_s": "20", "kind": "motion"},
        files={"video": ("clip.mp4", VIDEO, "video/mp4")},
        headers={"Authorization": f"Device {device['device_token']}"},
    )
    assert response.status_code == 201, response.text
    clip_id: str = response.json()["id"]
    return clip_id


def headings(html: str) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", html)


def times(html: str) -> list[str]:
    return re.findall(r'<time datetime="[^"]+">([^<]+)</time>', html)


def test_issue_11_item_4_sign_up_keeps_the_browsers_zone_and_days_follow_it(
    browser: TestClient, context: AppContext, clock: FixedClock
) -> None:
    sign_up(browser, "America/Los_Angeles")
    device = camera(browser)
    # 03:00 UTC on 1 March is 19:00 on 28 February in Los Angeles (UTC-8 in winter).
    seed_clips(
        context.engine,
        device["id"],
        [datetime(2026, 3, 1, 3, tzinfo=UTC), datetime(2026, 3, 1, 9, tzinfo=UTC)],
    )
    page = browser.get("/app/activity")
    assert "Times in America/Los_Angeles" in page.text
    assert headings(page.text) == ["Sunday 1 March 2026", "Saturday 28 February 2026"]
    assert times(page.text) == ["01:00:00", "19:00:00"]


def test_issue_11_item_4_an_unknown_browser_zone_falls_back_to_utc(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser, "Not/AZone")
    assert "Times in UTC" in browser.get("/app/activity").text


def test_issue_11_item_4_the_zone_is_a_setting(browser: TestClient, context: AppContext) -> None:
    sign_up(browser)
    settings = browser.get("/app/settings")
    assert '<option value="UTC" selected>' in settings.text
    refused = browser.post(
        "/app/settings", data={"time_zone": "Mars/Base", "csrf_token": csrf(settings.text)}
    )
    assert "Choose a time zone from the list." in refused.text  # post/redirect/get
    assert str(refused.url).endswith("/app/settings?problem=invalid_time_zone#time-zone")
    saved = browser.post(
        "/app/settings", data={"time_zone": "Asia/Tokyo", "csrf_token": csrf(settings.text)}
    )
    assert "Settings saved" in saved.text
    assert '<option value="Asia/Tokyo" selected>' in saved.text
    assert "Times in Asia/Tokyo" in browser.get("/app/activity").text


def test_issue_11_item_4_pages_go_older_and_newer_a_day_can_be_picked_and_kinds_filtered(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    device = camera(browser)
    # 120 motion clips, one every 10 minutes back from 11:50 UTC, and 3 manual ones between.
    starts = [START - timedelta(minutes=10 * n) for n in range(1, 121)]
    seed_clips(context.engine, device["id"], starts)
    seed_clips(
        context.engine,
        device["id"],
        [START - timedelta(minutes=10 * n + 5) for n in (1, 2, 3)],
        kind=ClipKind.MANUAL,
    )
    first = browser.get("/app/activity")
    assert len(times(first.text)) == 50
    assert times(first.text)[:3] == ["11:50:00", "11:45:00", "11:40:00"]  # 11:45 is manual
    assert "Newer clips" not in first.text
    older = re.search(r'href="([^"]+)" rel="next">Older clips', first.text)
    assert older
    second = browser.get(older.group(1).replace("&amp;", "&"))
    assert len(times(second.text)) == 50
    newer = re.search(r'href="([^"]+)" rel="prev">Newer clips', second.text)
    assert newer
    back = browser.get(newer.group(1).replace("&amp;", "&"))
    assert times(back.text) == times(first.text)
    assert "Newer clips" not in back.text

    # The date picker: 28 February in UTC starts the page at its last clip, 23:50.
    day = browser.get(  # as the form sends it: every kind is ""
        "/app/activity", params={"camera": device["id"], "kind": "", "day": "2026-02-28"}
    )
    assert times(day.text)[0] == "23:50:00"
    assert headings(day.text)[0] == "Saturday 28 February 2026"
    assert "Newer clips" in day.text

    manual = browser.get("/app/activity", params={"camera": device["id"], "kind": "manual"})
    assert times(manual.text) == ["11:45:00", "11:35:00", "11:25:00"]
    assert "Older clips" not in manual.text


def test_issue_11_item_4_fresh_urls_on_demand_and_download_on_paid_plans(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    device = camera(browser)
    clip_id = upload(browser, device, START - timedelta(minutes=5))
    page = browser.get("/app/activity")
    assert f'data-urls="/app/clips/{clip_id}/urls"' in page.text
    assert "Download</a>" not in page.text  # the free plan has no download

    urls = browser.get(f"/app/clips/{clip_id}/urls")
    assert urls.status_code == 200 and urls.headers["cache-control"] == "private, no-store"
    body = urls.json()
    assert body["download_url"] is None
    media = browser.get(body["playback_url"])
    assert (media.status_code, media.content) == (200, VIDEO)

    card_on_file(browser, api_headers(browser))
    subscribe(browser, api_headers(browser), [device["id"]])
    page = browser.get("/app/activity")
    assert f'href="/app/clips/{clip_id}/download"' in page.text
    download = browser.get(f"/app/clips/{clip_id}/download", follow_redirects=False)
    assert download.status_code == 303
    got = browser.get(download.headers["location"])
    assert got.content == VIDEO and "attachment" in got.headers["content-disposition"]

    browser.cookies.clear()
    signed_out = browser.get(f"/app/clips/{clip_id}/urls")
    assert (signed_out.status_code, signed_out.json()["code"]) == (401, "unauthorized")


def test_issue_11_item_5_removal_reviews_the_erased_history_with_a_zip_then_confirms(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    device = camera(browser, name="Porch")
    clips = [upload(browser, device, START - timedelta(minutes=m)) for m in (50, 5)]
    cameras = browser.get("/app/cameras")
    assert f'href="/app/cameras/{device["id"]}/remove"' in cameras.text

    review = browser.get(f"/app/cameras/{device['id']}/remove")
    assert "Removing this camera erases all <strong>2 clips</strong>" in review.text
    assert "from 1 Mar 2026, 11:10 to 1 Mar 2026, 11:55 (UTC)" in review.text
    archive = browser.get(f"/app/cameras/{device['id']}/clips.zip")
    assert archive.headers["content-type"] == "application/zip"
    assert archive.headers["content-disposition"] == 'attachment; filename="Porch-clips.zip"'
    with zipfile.ZipFile(io.BytesIO(archive.content)) as unzipped:
        assert unzipped.testzip() is None
        names = unzipped.namelist()
        assert names == [
            f"Porch/2026-03-01 11-55-00 motion {clips[1]}.mp4",
            f"Porch/2026-03-01 11-10-00 motion {clips[0]}.mp4",
        ]
        assert all(unzipped.read(name) == VIDEO for name in names)

    # A stale form without the confirmation comes back to the review; nothing is removed.
    stale = browser.post(
        f"/app/cameras/{device['id']}/unbind",
        data={"csrf_token": csrf(review.text)},
        follow_redirects=False,
    )
    assert stale.headers["location"] == f"/app/cameras/{device['id']}/remove"
    confirmed = browser.post(
        f"/app/cameras/{device['id']}/unbind",
        data={"confirm": "1", "csrf_token": csrf(review.text)},
    )
    assert "Camera removed" in confirmed.text and "Porch" not in confirmed.text.split("<h2")[0]
    storage = context.storage
    assert isinstance(storage, LocalDiskStorage)
    assert list(storage.root.rglob("*.mp4")) == []  # erased, bytes deleted after the commit
    gone = browser.get(f"/app/clips/{clips[1]}/urls")
    assert gone.status_code == 404  # the camera is no longer the owner's


def test_issue_11_item_5_a_camera_without_clips_reviews_nothing_erased(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    device = camera(browser)
    review = browser.get(f"/app/cameras/{device['id']}/remove")
    assert "This camera has no video history stored: nothing is erased." in review.text
    assert "clips.zip" not in review.text


def test_issue_11_item_4_the_grid_shows_the_clips_thumbnail_or_a_placeholder(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    device = camera(browser)
    poster = b"\xff\xd8\xff\xe0" + b"camera poster" * 10 + b"\xff\xd9"
    sent = browser.post(
        "/v1/device/clips",
        data={"started_at": (START - timedelta(minutes=5)).isoformat(), "duration_s": "20"},
        files={
            "video": ("clip.mp4", VIDEO, "video/mp4"),
            "thumbnail": ("poster.jpg", poster, "image/jpeg"),
        },
        headers={"Authorization": f"Device {device['device_token']}"},
    )
    assert sent.status_code == 201, sent.text
    upload(browser, device, START - timedelta(minutes=15))  # no thumbnail yet
    page = browser.get("/app/activity")
    posters = re.findall(r'poster="([^"]+)"', page.text)
    assert posters[0].startswith("/v1/clip-thumbnails/") and posters[1] == "/static/poster.svg"
    image = browser.get(posters[0])
    assert (image.status_code, image.content) == (200, poster)


def test_issue_11_item_4_a_cancel_review_offers_the_clips_it_erases_as_a_zip(
    browser: TestClient, context: AppContext
) -> None:
    sign_up(browser)
    device = camera(browser, name="Hall")
    card_on_file(browser, api_headers(browser))
    subscribe(browser, api_headers(browser), [device["id"]])  # Plus keeps 30 days
    old = [upload(browser, device, START - timedelta(days=d)) for d in (3, 4)]
    upload(browser, device, START - timedelta(minutes=5))  # the free plan's 48 h keep this one
    care = browser.get("/app/kasa-care")
    review = browser.post(
        "/app/kasa-care/review", data={"action": "cancel", "csrf_token": csrf(care.text)}
    )
    assert review.status_code == 200, review.text
    link = re.search(r'href="(/app/cameras/[^"]+/clips\.zip\?before=[^"]+)"', review.text)
    assert link and "Download all (2) as a zip" in review.text
    archive = browser.get(link.group(1).replace("&amp;", "&"))
    with zipfile.ZipFile(io.BytesIO(archive.content)) as unzipped:
        assert sorted(name.rsplit(" ", 1)[1] for name in unzipped.namelist()) == sorted(
            f"{clip_id}.mp4" for clip_id in old
        )
