"""Exporting one's data (issue 13 item 3, GDPR Art. 20) end to end: a real `kasacare serve`
with the test clock, mail through a real SMTP server (aiosmtpd), and clips on local disk and
on S3 (moto's server, a real process). The test clock's advance runs the export job and then
the mail job, as the timers do in production."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kasacare.clips.storage_s3 import S3Storage
from tests.clips import conftest as clip_fixtures
from tests.clips.conftest import s3_storage
from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.e2e.test_foundation_http import _now, _register
from tests.factories import PASSWORD
from tests.media import make_mp4
from tests.notifications.test_mail import SmtpServer

aws_env = clip_fixtures.aws_env
s3_endpoint = clip_fixtures.s3_endpoint

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EXPORT_LINK = re.compile(r"https?://\S+/app/account/export/(\S+)")


class Live:
    """A server under test: its URL, its SMTP inbox, where its clips live."""

    def __init__(self, base: str, smtp: SmtpServer, clips: Path | S3Storage) -> None:
        self.base, self.smtp, self.clips = base, smtp, clips

    def stored_exports(self) -> list[str]:
        if isinstance(self.clips, Path):
            root = self.clips / "exports"
            return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []
        listed = self.clips.client.list_objects_v2(Bucket=self.clips.bucket, Prefix="exports/")
        return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.fixture(scope="module", params=["local", "s3"])
def live(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp(f"export-{backend}-{request.param}")
    # moto and its AWS environment first: the server's environment is copied from ours.
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else ""
    smtp = SmtpServer()
    smtp.start()
    try:
        with fresh_database(backend, directory) as database_url:
            env = server_env(database_url, directory)
            env["KASACARE_SMTP_URL"] = smtp.url
            env["KASACARE_PUBLIC_URL"] = "https://care.example.com"
            clips: Path | S3Storage = directory / "clips"
            if request.param == "s3":
                bucket = f"clips-{uuid.uuid4().hex[:20]}"
                clips = s3_storage(endpoint, bucket)
                env["KASACARE_STORAGE_URL"] = (
                    f"s3://{bucket}?endpoint={endpoint}&region=us-east-1&create_bucket=1"
                )
            with running_server(env, directory / "server.log") as base:
                yield Live(base, smtp, clips)
    finally:
        smtp.stop()


def _owner(http: httpx.Client) -> tuple[str, dict[str, str]]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "country": "US"}
    assert http.post("/v1/accounts", json=body).status_code == 201
    return email, _sign_in(http, email)


def _sign_in(http: httpx.Client, email: str) -> dict[str, str]:
    token = http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _upload(http: httpx.Client, camera: dict[str, Any], data: bytes, minutes: int) -> str:
    started = _now(http, ADMIN) - timedelta(minutes=minutes)
    uploaded = http.post(
        "/v1/device/clips",
        data={"started_at": started.isoformat(), "duration_s": "2", "kind": "motion"},
        files={"video": ("clip.mp4", data, "video/mp4")},
        headers={"Authorization": f"Device {camera['device_token']}"},
    )
    assert uploaded.status_code == 201, uploaded.text
    clip_id: str = uploaded.json()["id"]
    return clip_id


def _advance(http: httpx.Client, seconds: int) -> None:
    moved = http.post("/v1/admin/clock/advance", json={"seconds": seconds}, headers=ADMIN)
    assert moved.status_code == 200, moved.text


def _link_token(live: Live, to: str) -> str:
    for recipients, message in live.smtp.inbox.received:
        if to in recipients and "data export" in str(message["Subject"]):
            found = EXPORT_LINK.search(message.get_content())
            assert found, message.get_content()
            return found.group(1)
    raise AssertionError(f"no export mail to {to}")


def _download(http: httpx.Client, token: str, headers: dict[str, str]) -> httpx.Response:
    """The link followed as a browser would: a presigned S3 redirect is followed without
    our credentials."""
    answer = http.get(f"/v1/exports/{token}", headers=headers)
    if answer.status_code == 307:
        return httpx.get(answer.headers["location"], timeout=30)
    return answer


def test_issue_13_item_3_export_zip_holds_exactly_the_accounts_data_and_expires(
    live: Live,
) -> None:
    with httpx.Client(base_url=live.base, timeout=60) as http:
        email, headers = _owner(http)
        other_email, other = _owner(http)
        camera = _register(http, headers, "KC120")
        other_camera = _register(http, other, "KC120")
        video = make_mp4(seconds=2, width=96, height=64)
        clip_id = _upload(http, camera, video, minutes=2)
        other_clip = _upload(http, other_camera, make_mp4(seconds=1), minutes=3)

        asked = http.post("/v1/me/export", headers=headers)
        assert asked.status_code == 202, asked.text
        assert asked.json()["state"] == "requested"
        assert http.get("/v1/me/export", headers=headers).json()["state"] == "requested"
        _advance(http, 1)  # media job (thumbnail), export job, then mail
        state = http.get("/v1/me/export", headers=headers).json()
        assert state["state"] == "ready"
        token = _link_token(live, email)

        # Another account's token (its own session with this link) answers 404.
        assert http.get(f"/v1/exports/{token}", headers=other).status_code == 404
        assert http.get(f"/v1/exports/{token}").status_code == 401
        assert http.get("/v1/exports/kc_export_unknown", headers=headers).status_code == 404

        answer = _download(http, token, headers)
        assert answer.status_code == 200, answer.text
        archive = zipfile.ZipFile(io.BytesIO(answer.content))
        names = archive.namelist()
        documents = {
            name: json.loads(archive.read(name)) for name in names if name.endswith(".json")
        }
        assert set(documents) == {
            "account.json",
            "cameras.json",
            "billing_address.json",  # issue 14 item 1: null until one is given
            "subscriptions.json",
            "invoices.json",
            "credit_notes.json",
            "notifications.json",
        }
        assert documents["account.json"]["email"] == email
        assert "password_hash" not in documents["account.json"]
        assert [c["id"] for c in documents["cameras.json"]] == [camera["id"]]
        assert documents["billing_address.json"] is None
        text = json.dumps(documents)
        for foreign in (other_email, other_camera["id"], other_clip):
            assert foreign not in text
        clips = [name for name in names if name.startswith("clips/")]
        movies = [name for name in clips if name.endswith(".mp4")]
        assert len(movies) == 1 and clip_id.replace("-", "")[:8] in movies[0]
        assert archive.read(movies[0]) == video  # byte for byte
        thumbnails = [name for name in clips if name.endswith(".jpg")]
        assert len(thumbnails) == 1
        assert archive.read(thumbnails[0])[:2] == b"\xff\xd8"  # a JPEG
        assert live.stored_exports()  # the zip is stored under a key of its own

        _advance(http, 24 * 3600)
        headers = _sign_in(http, email)  # sessions last 12 hours
        gone = http.get(f"/v1/exports/{token}", headers=headers)
        assert gone.status_code == 410, gone.text
        assert gone.json()["code"] == "export_expired"
        assert http.get("/v1/me/export", headers=headers).json()["state"] == "expired"
        assert live.stored_exports() == []  # the file was deleted after its 24 hours
