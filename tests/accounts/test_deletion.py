"""Deleting an account (issue 13 item 2, GDPR Art. 17) through the API, on SQLite and
PostgreSQL, with clips on local disk and on S3 (moto's server) and mail through a real SMTP
server (aiosmtpd): the quote, the password confirmation, the cancel's exact refund, every
clip and thumbnail gone from the storage, no row naming the address, the address free."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, select

from kasacare.accounts.mails import deliver_account_mails
from kasacare.accounts.models import Account, MailKind
from kasacare.app import create_app
from kasacare.billing.models import CreditNote
from kasacare.cameras.models import Camera
from kasacare.clips.models import Clip
from kasacare.clips.storage import ClipStorage, LocalDiskStorage
from kasacare.clips.storage_s3 import S3Storage
from kasacare.context import AppContext
from kasacare.jobs import probe_media
from kasacare.kit.calendar import add_months
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import Base, session_scope
from kasacare.kit.idempotency_models import IdempotencyKey
from tests.clips import conftest as clip_fixtures
from tests.clips.conftest import s3_storage
from tests.clips.test_clips import NOW
from tests.clips.test_thumbnails import CAMERA_JPEG, upload
from tests.conftest import ADMIN_TOKEN
from tests.factories import (
    PASSWORD,
    card_on_file,
    import_legacy,
    owner,
    register_camera,
    sign_up,
    subscribe,
    token_for,
)
from tests.mailbox import outbox, verify
from tests.notifications.test_mail import SmtpServer

aws_env = clip_fixtures.aws_env
s3_endpoint = clip_fixtures.s3_endpoint

EMAIL = "leaving@example.com"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, context: AppContext) -> ClipStorage:
    if request.param == "local":
        return context.storage
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return s3_storage(endpoint)


def _stored_keys(storage: ClipStorage) -> list[str]:
    """Every object the storage holds, whoever's."""
    if isinstance(storage, LocalDiskStorage):
        return sorted(str(p) for p in storage.root.rglob("*") if p.is_file())
    assert isinstance(storage, S3Storage)
    listed = storage.client.list_objects_v2(Bucket=storage.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _idempotency_rows(context: AppContext, caller: str) -> int:
    with session_scope(context.sessions) as session:
        query = select(IdempotencyKey).where(IdempotencyKey.caller_digest == caller)
        return len(list(session.scalars(query)))


def _rows_naming(context: AppContext, needle: str) -> list[str]:
    """Every string column of every table scanned for `needle`: `table.column` found."""
    found = []
    with session_scope(context.sessions) as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String):
                    query = select(column).where(column.contains(needle)).limit(1)
                    if session.execute(query).first() is not None:
                        found.append(f"{table.name}.{column.name}")
    return found


def test_issue_13_item_2_delete_the_account_end_to_end(
    context: AppContext, clock: FixedClock, storage: ClipStorage, smtp: SmtpServer
) -> None:
    clock.set(NOW - timedelta(days=10))
    with TestClient(create_app(dataclasses.replace(context, storage=storage))) as client:
        # Subscribed ten days ago; the clips are recent.
        account, headers = owner(client, EMAIL)
        verify(client, context, EMAIL)
        card_on_file(client, headers)
        cameras = [register_camera(client, headers, "KC120") for _ in range(2)]
        subscribe(client, headers, [cameras[0]["id"]])
        clock.set(NOW)
        headers = token_for(client, EMAIL)  # a new session: the first one expired
        for camera in cameras:
            for minutes in (5, 10):
                sent = upload(
                    client,
                    camera["device_token"],
                    NOW - timedelta(minutes=minutes),
                    thumbnail=("poster.jpg", CAMERA_JPEG, "image/jpeg"),
                )
                assert sent.status_code == 201, sent.text
        probe_media(dataclasses.replace(context, storage=storage), NOW)
        assert len(_stored_keys(storage)) == 8  # four clips, four posters
        smtp.inbox.received.clear()

        # The quote: exactly what a cancel gives now, and what is erased.
        keyed = {**headers, "Idempotency-Key": "preview-1"}
        cancel = client.post(
            "/v1/subscription/preview", json={"action": "cancel"}, headers=keyed
        ).json()
        caller = hashlib.sha256(headers["Authorization"].encode()).hexdigest()
        assert _idempotency_rows(context, caller) == 1
        quote = client.get("/v1/me/deletion", headers=headers)
        assert quote.status_code == 200, quote.text
        assert quote.json() == {
            "subscription_cancel": cancel,
            "legacy_termination": None,
            "cameras_unbound": 2,
            "clips_erased": 4,
        }
        assert cancel["refund_now"]["amount"] > 0

        wrong = client.request("DELETE", "/v1/me", json={"password": "not it"}, headers=headers)
        assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
        assert client.get("/v1/me", headers=headers).status_code == 200

        done = client.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=headers)
        assert done.status_code == 200, done.text
        assert done.json() == quote.json()
        assert client.get("/v1/me", headers=headers).status_code == 401

        # Every clip and thumbnail gone at once (the sweep after the commit).
        assert _stored_keys(storage) == []
        with session_scope(context.sessions) as session:
            clips = list(session.scalars(select(Clip)))
            assert clips and all(c.erased_at == NOW for c in clips)
            assert all(c.deleted_at is not None for c in clips)
            assert all(c.unbound_at == NOW for c in session.scalars(select(Camera)))
            # The credit note of the cancel: its refund exactly, kept for retention.
            (note,) = session.scalars(select(CreditNote))
            assert note.total == cancel["refund_now"]["amount"]
            kept = session.get(Account, uuid.UUID(account["id"]))
            assert kept is not None and kept.country == "US"

        assert _idempotency_rows(context, caller) == 0  # the caller's stored answers

        # The last mail goes to the address itself; once sent, no row names it.
        assert [(m.kind, m.to_address) for m in outbox(context)] == [
            (MailKind.ACCOUNT_DELETED, EMAIL)
        ]
        deliver_account_mails(
            context.sessions, smtp.sender, NOW, public_url="https://care.example.com"
        )
        ((to, message),) = smtp.inbox.received
        assert (to, message["Subject"]) == ([EMAIL], "Your Kasa Care account was deleted")
        assert _rows_naming(context, EMAIL) == []
        assert _rows_naming(context, "leaving@") == []
        # Nor the account's id in text: the wrong password above counted under
        # `reauth:<id>`, and a claim code's failures under `claim-account:<id>`.
        assert _rows_naming(context, account["id"]) == []

        # The password no longer signs in (a failed sign-in counts under the address, as
        # for any unknown address, until `throttle.FORGET_AFTER`).
        refused = client.post("/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        assert refused.status_code == 401

        # The address is free.
        sign_up(client, EMAIL)
        again = token_for(client, EMAIL)
        assert client.get("/v1/me", headers=again).json()["email"] == EMAIL


def test_issue_13_item_2_deleting_a_legacy_account_terminates_legacy_as_l4(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    clock.set(NOW)
    account, headers = owner(client, EMAIL)
    card_on_file(client, headers)
    camera = register_camera(client, headers, "KC120")
    start = (NOW - timedelta(days=10)).isoformat()
    end = add_months(NOW - timedelta(days=10), 1).isoformat()
    import_legacy(client, ADMIN, account["id"], [camera["id"]], start=start, end=end)
    preview = client.post(
        "/v1/subscription/preview", json={"action": "cancel_legacy"}, headers=headers
    ).json()
    quote = client.get("/v1/me/deletion", headers=headers).json()
    assert quote["subscription_cancel"] is None
    assert quote["legacy_termination"] == preview
    assert preview["refund_now"]["amount"] > 0
    done = client.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["legacy_termination"] == preview
    # Unverified address: no mail at all, and nothing names it.
    assert outbox(context) == []
    assert _rows_naming(context, EMAIL) == []
