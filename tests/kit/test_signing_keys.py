"""Signing keys derived from `KASACARE_SECRET_KEY`, with key ids and rotation (issue 13 item 4):
production requires the master and keeps nothing in the database; development generates one
there; a rotated master still verifies clip URLs and forms it signed until it is dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from kasacare.app import build_context, create_app
from kasacare.clips.models import Clip
from kasacare.clips.signing import CLIP_URL_KEYS, verify
from kasacare.config import ConfigurationError, Settings, load_settings
from kasacare.context import AppContext
from kasacare.kit.secrets import GENERATED_MASTER, ServiceSecret
from kasacare.kit.signing_keys import Keyring, SigningKeys, key_id
from kasacare.web.session import CSRF_KEYS
from tests.clips.test_clips import upload
from tests.conftest import START
from tests.factories import PASSWORD, register_camera, token_for
from tests.web.conftest import csrf

OLD = "the-old-master-of-this-deployment-0123456789"
NEW = "the-new-master-after-the-rotation-0123456789"


def _secret_rows(context: AppContext) -> int:
    with context.sessions() as session:
        return session.scalar(select(func.count()).select_from(ServiceSecret)) or 0


@contextmanager
def _deployment(context: AppContext, **settings: Any) -> Iterator[TestClient]:
    """Another process of the same deployment (same database, clips, gateway, clock) started
    with other signing settings, seen over HTTPS like a browser."""
    other = build_context(
        context.settings.model_copy(update=settings),
        catalog=context.catalog,
        clock=context.clock,
        gateway=context.gateway,
        storage=context.storage,
    )
    try:
        with TestClient(
            create_app(other), base_url="https://testserver", raise_server_exceptions=False
        ) as client:
            yield client
    finally:
        other.engine.dispose()


def test_issue_13_item_4_production_requires_the_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASACARE_ENV", "production")
    with pytest.raises(ConfigurationError, match=r"^KASACARE_SECRET_KEY is required when"):
        load_settings()
    monkeypatch.setenv("KASACARE_SECRET_KEY", NEW)
    monkeypatch.setenv("KASACARE_TEST_CLOCK", "1")
    with pytest.raises(ConfigurationError, match=r"^KASACARE_TEST_CLOCK is refused when"):
        load_settings()
    monkeypatch.delenv("KASACARE_TEST_CLOCK")
    assert load_settings().signing_masters == (NEW.encode(),)


@pytest.mark.parametrize("variable", ["KASACARE_SECRET_KEY", "KASACARE_PREVIOUS_SECRET_KEYS"])
def test_issue_13_item_4_a_short_master_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, f"{NEW},31-bytes-are-one-byte-too-short")
    with pytest.raises(ConfigurationError, match=f"^{variable}: .*at least 32 bytes"):
        load_settings()


def test_issue_13_item_4_masters_current_first_then_previous() -> None:
    settings = Settings(secret_key=SecretStr(NEW), previous_secret_keys=SecretStr(f" {OLD} ,"))
    assert settings.signing_masters == (NEW.encode(), OLD.encode())
    assert Settings().signing_masters == ()  # development: generated in the database


def test_issue_13_item_4_development_generates_one_master_every_process_shares(
    context: AppContext,
) -> None:
    """Without a configured master (development, the test clock), one random master is kept
    in the database: the first process to start creates it, a second signs with the same."""
    with context.sessions() as session, session.begin():
        session.execute(delete(ServiceSecret))  # a new deployment
    with _deployment(context) as first, _deployment(context) as second:
        assert _secret_rows(context) == 1
        with context.sessions() as session:
            row = session.get(ServiceSecret, GENERATED_MASTER)
            assert row is not None
            master = bytes.fromhex(row.value)
        rings = [_keys(client).keyring(CLIP_URL_KEYS) for client in (first, second)]
        assert rings[0] == rings[1] == Keyring.derived(CLIP_URL_KEYS, [master])
        assert rings[0].signing[0] == key_id(master)


def _keys(client: TestClient) -> SigningKeys:
    app_context: AppContext = client.app.state.context  # type: ignore[attr-defined]
    return app_context.signing_keys


def test_issue_13_item_4_a_configured_master_keeps_nothing_in_the_database(
    context: AppContext,
) -> None:
    """A backup of the database holds no signing secret: clip URLs verify only under the
    master from the configuration, and no row is written."""
    with _deployment(context, secret_key=SecretStr(NEW)) as client:
        headers, clip_id = _owner_with_a_clip(client)
        url = client.get(f"/v1/clips/{clip_id}", headers=headers).json()["playback_url"]
        assert client.get(url).status_code == 200
    assert _secret_rows(context) == 0
    token = url.rsplit("/", 1)[1]
    assert token.split(".")[0] == key_id(NEW.encode())
    from_configuration = Keyring.derived(CLIP_URL_KEYS, [NEW.encode()])
    with context.sessions() as session:
        clip = session.get(Clip, uuid.UUID(clip_id))
        assert clip is not None
        assert verify(token, from_configuration, context.clock.now()) == clip.storage_key


def test_issue_13_item_4_rotation_keeps_clip_urls_and_forms_until_the_old_master_goes(
    context: AppContext,
) -> None:
    with _deployment(context, secret_key=SecretStr(OLD)) as before:
        headers, clip_id = _owner_with_a_clip(before)
        url = before.get(f"/v1/clips/{clip_id}", headers=headers).json()["playback_url"]
        token = csrf(before.get("/app/account").text)
        cookies = dict(before.cookies)
    assert token.split(".")[0] == key_id(OLD.encode())
    rotated = {"secret_key": SecretStr(NEW), "previous_secret_keys": SecretStr(OLD)}
    with _deployment(context, **rotated) as after:
        after.cookies.update(cookies)
        assert after.get(url).status_code == 200
        saved = after.post("/app/account/language", data={"language": "en-GB", "csrf_token": token})
        assert "Language saved" in saved.text
        assert csrf(after.get("/app/account").text).split(".")[0] == key_id(NEW.encode())
    with _deployment(context, secret_key=SecretStr(NEW)) as dropped:
        dropped.cookies.update(cookies)
        refused = dropped.get(url)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        stale = dropped.post(
            "/app/account/language", data={"language": "en-GB", "csrf_token": token}
        )
        # Refused, back to the form (post/redirect/get, issue 14 item 4): nothing saved.
        assert stale.url.params["problem"] == "csrf_rejected"
        assert "This form expired. Please try again." in stale.text
        assert "Language saved" not in stale.text


def test_issue_13_item_4_csrf_keys_differ_from_clip_url_keys(context: AppContext) -> None:
    keys = context.signing_keys
    assert keys.keyring(CSRF_KEYS).signing[0] == keys.keyring(CLIP_URL_KEYS).signing[0]
    assert keys.keyring(CSRF_KEYS).signing[1] != keys.keyring(CLIP_URL_KEYS).signing[1]


def _owner_with_a_clip(client: TestClient) -> tuple[dict[str, str], str]:
    """Sign up in the web app (the session cookie), then register a camera whose free plan
    records and upload one clip over the API as the same account."""
    email = "rotation@example.com"
    form = client.get("/signup")
    client.post(
        "/signup",
        data={"email": email, "password": PASSWORD, "country": "GB", "csrf_token": csrf(form.text)},
    )
    headers = token_for(client, email)
    camera = register_camera(client, headers, "KC120")
    started = START - timedelta(minutes=1)
    uploaded = upload(client, camera["device_token"], started)
    assert uploaded.status_code == 201, uploaded.text
    return headers, str(uploaded.json()["id"])
