"""Deleting an account over HTTP (issue 13 item 2, GDPR Art. 17): a real `kasacare serve`
with the test clock, a real SMTP server (aiosmtpd), clips on local disk or in moto's S3
server. After `DELETE /v1/me` nothing of the account's clips remains in the storage, no row
of any table names the address, the refund is exactly the cancel's, the last mail reached
the address, and the address signs up again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import String, create_engine, select

from kasacare.billing.models import CreditNote, OutboxStatus, RefundOutbox
from kasacare.kit.db import Base
from tests.clips import conftest as clip_fixtures
from tests.clips.conftest import s3_storage
from tests.clips.test_thumbnails import CAMERA_JPEG, MP4
from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD
from tests.mailbox import LINK
from tests.notifications.test_mail import SmtpServer

pytestmark = pytest.mark.e2e

aws_env = clip_fixtures.aws_env
s3_endpoint = clip_fixtures.s3_endpoint

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Server:
    def __init__(self, base: str, database_url: str, mail: SmtpServer, stored: Any) -> None:
        self.base, self.database_url, self.mail = base, database_url, mail
        self.stored = stored  # () -> every object key or file the storage holds


@pytest.fixture(params=["local", "s3"])
def server(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp(f"deletion-{backend}-{request.param}")
    # moto's server and its AWS environment first: the server process inherits it.
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else ""
    mail = SmtpServer()
    mail.start()
    try:
        with fresh_database(backend, directory) as database_url:
            env = server_env(database_url, directory)
            env.update(KASACARE_SMTP_URL=mail.url, KASACARE_MAIL_INTERVAL_SECONDS="0")
            if request.param == "s3":
                bucket = f"clips-{uuid.uuid4().hex[:20]}"
                storage = s3_storage(endpoint, bucket)
                env["KASACARE_STORAGE_URL"] = (
                    f"s3://{bucket}?endpoint={endpoint}&region=us-east-1&create_bucket=1"
                )

                def stored() -> list[str]:
                    listed = storage.client.list_objects_v2(Bucket=bucket)
                    return sorted(item["Key"] for item in listed.get("Contents", []))
            else:
                root = directory / "clips"

                def stored() -> list[str]:
                    return sorted(str(p) for p in Path(root).rglob("*") if p.is_file())

            with running_server(env, directory / "server.log") as base:
                yield Server(base, database_url, mail, stored)
    finally:
        mail.stop()


def _advance(http: httpx.Client, seconds: int) -> datetime:
    """Move the test clock; its advance runs the jobs (mail included) before answering."""
    moved = http.post("/v1/admin/clock/advance", json={"seconds": seconds}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    return datetime.fromisoformat(http.get("/v1/admin/clock", headers=ADMIN).json()["now"])


def _signed_in(http: httpx.Client, email: str) -> dict[str, str]:
    token = http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _mail(server: Server, to: str, subject: str) -> str:
    found = [m for r, m in server.mail.inbox.received if r == [to] and m["Subject"] == subject]
    assert found, [m["Subject"] for _, m in server.mail.inbox.received]
    content: str = found[-1].get_content()
    return content


def _rows_naming(database_url: str, needle: str) -> list[str]:
    engine = create_engine(database_url)
    found = []
    try:
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                for column in table.columns:
                    if isinstance(column.type, String):
                        query = select(column).where(column.contains(needle)).limit(1)
                        if connection.execute(query).first() is not None:
                            found.append(f"{table.name}.{column.name}")
    finally:
        engine.dispose()
    return found


def _money_back(database_url: str, account_id: uuid.UUID) -> tuple[list[int], list[int]]:
    """The account's credit note totals, and the refunds the gateway has carried out."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            notes = connection.scalars(
                select(CreditNote.total).where(CreditNote.account_id == account_id)
            )
            refunds = connection.scalars(
                select(RefundOutbox.amount)
                .join(CreditNote, CreditNote.id == RefundOutbox.credit_note_id)
                .where(
                    CreditNote.account_id == account_id,
                    RefundOutbox.status == OutboxStatus.DONE,
                    RefundOutbox.gateway_refund_id.is_not(None),
                )
            )
            return list(notes), list(refunds)
    finally:
        engine.dispose()


def _upload(http: httpx.Client, device_token: str, started_at: datetime) -> None:
    sent = http.post(
        "/v1/device/clips",
        data={"started_at": started_at.isoformat(), "duration_s": "3", "kind": "motion"},
        files={
            "video": ("clip.mp4", MP4, "video/mp4"),
            "thumbnail": ("poster.jpg", CAMERA_JPEG, "image/jpeg"),
        },
        headers={"Authorization": f"Device {device_token}"},
    )
    assert sent.status_code == 201, sent.text


def test_issue_13_item_2_an_account_is_deleted_over_http(server: Server) -> None:
    email = f"leaving-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=server.base, timeout=30) as http:
        created = http.post(
            "/v1/accounts", json={"email": email, "password": PASSWORD, "country": "US"}
        )
        assert created.status_code == 201, created.text
        _advance(http, 1)
        link = LINK.search(_mail(server, email, "Confirm your email address for Kasa Care"))
        assert link is not None
        verified = http.post("/v1/auth/verify-email", json={"token": link.group(1)})
        assert verified.status_code == 204, verified.text
        headers = _signed_in(http, email)
        card = http.post(
            "/v1/sandbox/tokens",
            json={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        )
        put = http.put("/v1/payment-method", json={"token": card.json()["token"]}, headers=headers)
        assert put.status_code == 200, put.text
        cameras = []
        for _ in range(2):
            body = {"model": "KC120", "serial": f"E2E{uuid.uuid4().hex[:12].upper()}", "name": "x"}
            registered = http.post("/v1/cameras", json=body, headers=headers)
            assert registered.status_code == 201, registered.text
            cameras.append(registered.json())
        subscribed = http.post(
            "/v1/subscription",
            json={"plan": "plus", "cycle": "monthly", "camera_ids": [cameras[0]["id"]]},
            headers=headers,
        )
        assert subscribed.status_code == 201, subscribed.text

        # Nine days into the month, with clips on both cameras.
        now = _advance(http, 9 * 86400)
        headers = _signed_in(http, email)
        for camera in cameras:
            for minutes in (3, 6):
                _upload(http, camera["device_token"], now - timedelta(minutes=minutes))
        assert len(server.stored()) == 8  # four clips, four thumbnails

        cancel = http.post("/v1/subscription/preview", json={"action": "cancel"}, headers=headers)
        quote = http.get("/v1/me/deletion", headers=headers)
        assert quote.status_code == 200, quote.text
        assert quote.json()["subscription_cancel"] == cancel.json()
        assert (quote.json()["cameras_unbound"], quote.json()["clips_erased"]) == (2, 4)
        refund = cancel.json()["refund_now"]
        assert refund["amount"] > 0

        wrong = http.request("DELETE", "/v1/me", json={"password": "nope"}, headers=headers)
        assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
        done = http.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=headers)
        assert done.status_code == 200, done.text
        assert done.json() == quote.json()
        assert http.get("/v1/me", headers=headers).status_code == 401

        # The bytes went right after the commit; the last mail with the clock's next step.
        assert server.stored() == []
        _advance(http, 1)
        assert "last message" in _mail(server, email, "Your Kasa Care account was deleted")
        assert _rows_naming(server.database_url, email) == []

        # The refund: exactly the quote, a credit note kept for the law and paid to the card.
        notes, refunded = _money_back(server.database_url, uuid.UUID(created.json()["id"]))
        assert notes == refunded == [refund["amount"]]

        # The address is free.
        again = http.post(
            "/v1/accounts", json={"email": email, "password": PASSWORD, "country": "US"}
        )
        assert again.status_code == 201, again.text
        assert again.json()["id"] != created.json()["id"]
