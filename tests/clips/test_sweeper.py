"""The sweeper's watermark over expired clips (SPEC V2, V4, V8): bytes go, rows are not
written, batches stay within S3's 1,000 keys, a mismatch alerts once and blocks nothing, and
a clip committed just behind the watermark is still swept."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, insert, select, update

from kasacare.clips import watermark
from kasacare.clips.models import Clip
from kasacare.clips.storage import ClipStorage
from kasacare.clips.sweeper import BATCH, sweep
from kasacare.clips.watermark import Mark
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.support.models import AuditEntry
from tests.clips.test_clips import _blobs, upload
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
HOURS_12 = timedelta(hours=12)  # KC100's free history


@pytest.fixture
def at_now(clock: FixedClock) -> FixedClock:
    clock.set(NOW)
    return clock


def _sweep(context: AppContext, now: datetime, storage: ClipStorage | None = None) -> Any:
    return sweep(context.sessions, storage or context.storage, context.catalog, now)


def _mark(context: AppContext) -> Mark:
    with context.sessions() as session:
        return watermark.read(session)


def _clip(context: AppContext, clip_id: str) -> Clip:
    with context.sessions() as session:
        clip = session.get(Clip, uuid.UUID(clip_id))
        assert clip is not None
        return clip


class Recording:
    """Clip storage that remembers how many keys each `delete_many` call carried."""

    def __init__(self, inner: ClipStorage) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def delete_many(self, keys: Sequence[str]) -> int:
        self.calls.append(len(keys))
        return self.inner.delete_many(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_v2_v4_the_watermark_passes_swept_clips_without_writing_their_rows(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC100")["device_token"]
    first = upload(client, token, NOW - timedelta(hours=11)).json()  # expires 13:00Z
    second = upload(client, token, NOW - timedelta(hours=10)).json()  # expires 14:00Z
    held = upload(client, token, NOW - timedelta(hours=1)).json()  # expires 23:00Z
    at_now.set(NOW + timedelta(hours=3))
    result = _sweep(context, at_now.now())
    assert (result.deleted, result.mismatches) == (2, 0)
    assert _blobs(context) == 1
    # The mark sits on the last clip swept; neither row was written (V3a keeps them listed).
    assert _mark(context) == (NOW + timedelta(hours=2), uuid.UUID(second["id"]))
    for gone in (first, second):
        row = _clip(context, gone["id"])
        assert (row.erased_at, row.deleted_at) == (None, None)
        assert not context.storage.exists(row.storage_key)
    headers = token_for(client, "owner@example.com")
    assert client.get(f"/v1/clips/{first['id']}", headers=headers).status_code == 410  # V4
    assert client.get(f"/v1/clips/{held['id']}", headers=headers).status_code == 200
    assert _sweep(context, at_now.now()).deleted == 0  # nothing new: no re-deletion


def test_v8_a_mismatch_alerts_once_and_does_not_block_later_clips(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC120")["device_token"]  # 48 h
    old = upload(client, token, NOW - timedelta(hours=47, minutes=30)).json()  # expires 12:30Z
    at_now.set(NOW + timedelta(minutes=28))
    odd = upload(client, token, at_now.now() - timedelta(minutes=1)).json()
    # Force a mismatch: the row claims an expiry that the camera's window contradicts. It
    # lies just behind the clip that will carry the mark, so later runs re-read it.
    with context.sessions() as session:
        session.execute(
            update(Clip)
            .values(expires_at=NOW + timedelta(minutes=29))
            .where(Clip.id == uuid.UUID(odd["id"]))
        )
        session.commit()
    at_now.set(NOW + timedelta(hours=1))
    result = _sweep(context, at_now.now())
    # The later clip is deleted past the mismatch, which keeps its bytes.
    assert (result.deleted, result.mismatches) == (1, 1)
    assert context.storage.exists(_clip(context, odd["id"]).storage_key)
    assert not context.storage.exists(_clip(context, old["id"]).storage_key)
    assert _mark(context) == (NOW + timedelta(minutes=30), uuid.UUID(old["id"]))
    # The next runs re-read the minutes behind the mark, where it lies: no second alert.
    for minutes in (1, 2):
        again = _sweep(context, at_now.now() + timedelta(minutes=minutes))
        assert again.mismatches == 0
    with context.sessions() as session:
        (alert,) = session.scalars(select(AuditEntry)).all()
    assert (alert.action, alert.target) == ("sweeper_mismatch", odd["id"])
    assert context.storage.exists(_clip(context, odd["id"]).storage_key)


def test_v2_a_clip_committed_just_behind_the_watermark_is_still_swept(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC100")["device_token"]
    at_now.set(NOW - timedelta(hours=11))
    swept = upload(client, token, NOW - HOURS_12 - timedelta(seconds=10)).json()
    result = _sweep(context, NOW)
    assert result.deleted == 1
    assert _mark(context) == (NOW - timedelta(seconds=10), uuid.UUID(swept["id"]))
    # An upload whose `now` was a minute before that sweep, committed after it.
    at_now.set(NOW - timedelta(minutes=1))
    late = upload(client, token, NOW - HOURS_12 - timedelta(seconds=30)).json()
    assert late["expires_at"] < swept["expires_at"]  # behind the mark
    assert _blobs(context) == 1
    at_now.set(NOW + timedelta(minutes=1))
    result = _sweep(context, at_now.now())
    # Only the late clip: the rescan behind the mark skips the clips it swept that were
    # created long before (the swept one was uploaded 11 hours earlier).
    assert (result.deleted, result.mismatches) == (1, 0)
    assert _blobs(context) == 0


def test_v2_storage_deletes_go_in_batches_of_at_most_1000_keys(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    camera_id = uuid.UUID(register_camera(client, headers, "KC120")["id"])
    # 2,400 expired clips and 300 erased ones, as rows only (deleting an absent key is fine).
    started = [NOW - timedelta(hours=50) + timedelta(seconds=i) for i in range(2700)]
    rows = [
        {
            "id": uuid.uuid4(),
            "camera_id": camera_id,
            "started_at": at,
            "duration_s": 20,
            "kind": "motion",
            "size": 1,
            "content_type": "video/mp4",
            "storage_key": f"{camera_id}/{uuid.uuid4()}.mp4",
            "expires_at": at + timedelta(hours=48),
            "erased_at": NOW - timedelta(hours=1) if i >= 2400 else None,
            "deleted_at": None,
            "created_at": at,
        }
        for i, at in enumerate(started)
    ]
    with context.engine.begin() as connection:
        connection.execute(insert(cast(Table, Clip.__table__)), rows)
    storage = Recording(context.storage)
    result = _sweep(context, NOW, cast(ClipStorage, storage))
    assert (result.deleted, result.mismatches) == (2700, 0)
    # Erased clips first (300 + 700 expired), then the rest of the expired ones.
    assert storage.calls == [BATCH, BATCH, 700]
    last = max(rows[:2400], key=lambda row: (row["expires_at"], row["id"]))
    assert _mark(context) == (last["expires_at"], last["id"])
    with context.sessions() as session:
        marked = session.scalar(
            select(func.count()).select_from(Clip).where(Clip.deleted_at.is_not(None))
        )
    assert marked == 300  # only the erased clips' rows are written


def test_v4_a_plan_change_leaves_clips_behind_the_watermark_alone(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    """Swept clips further behind the mark than the sweeper re-reads have no bytes and no
    re-check reads them: a change does not erase them again (its cost stays with the last
    minutes and what is held), and they stay unavailable (V4)."""
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers, "KC100")
    aged = upload(client, camera["device_token"], NOW - timedelta(hours=11)).json()  # 13:00Z
    upload(client, camera["device_token"], NOW - timedelta(hours=10, minutes=30))  # 13:30Z
    at_now.set(NOW + timedelta(hours=2))
    assert _sweep(context, at_now.now()).deleted == 2
    headers = token_for(client, "owner@example.com")
    subscribe(client, headers, [camera["id"]], plan="premium")  # 30 days would keep it
    row = _clip(context, aged["id"])
    assert (row.erased_at, row.deleted_at) == (None, None)
    assert client.get(f"/v1/clips/{aged['id']}", headers=headers).status_code == 410
    assert _sweep(context, at_now.now()).mismatches == 0


def test_v2_v4_a_clock_set_back_behind_the_watermark_rewinds_it(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    """A test clock set back: clips swept after the new `now` would look unexpired again;
    they are recorded erased (their bytes are gone), and new clips behind the old mark are
    swept when they expire."""
    _, headers = owner(client)
    token = register_camera(client, headers, "KC100")["device_token"]
    swept = upload(client, token, NOW - timedelta(hours=11)).json()  # expires 13:00Z
    at_now.set(NOW + timedelta(hours=3))
    assert _sweep(context, at_now.now()).deleted == 1
    at_now.set(NOW)  # before the swept clip's expiry
    assert _sweep(context, NOW).deleted == 0
    assert _mark(context) == (NOW, watermark.LAST_ID)
    row = _clip(context, swept["id"])
    assert (row.erased_at, row.deleted_at) == (NOW, NOW)
    headers = token_for(client, "owner@example.com")
    assert client.get(f"/v1/clips/{swept['id']}", headers=headers).status_code == 410
    fresh = upload(client, token, NOW - timedelta(hours=11, minutes=30)).json()  # 12:30Z
    at_now.set(NOW + timedelta(hours=1))
    assert _sweep(context, at_now.now()).deleted == 1
    assert not context.storage.exists(_clip(context, fresh["id"]).storage_key)


class Refusing:
    """Clip storage that refuses to delete one key (a permission the disk or bucket denies),
    and any batch that carries it; the real storage for the rest."""

    def __init__(self, inner: ClipStorage, refused: str) -> None:
        self.inner = inner
        self.refused = refused

    def delete_many(self, keys: Sequence[str]) -> int:
        if self.refused in keys:
            raise PermissionError(f"cannot delete {self.refused}")
        return self.inner.delete_many(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_v2_a_clip_the_storage_refuses_to_delete_does_not_stop_the_others(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC100")["device_token"]  # 12 h
    clips = [
        upload(client, token, NOW - timedelta(hours=11, minutes=m)).json() for m in (0, 10, 20)
    ]
    stuck = _clip(context, clips[1]["id"])
    refusing = Refusing(context.storage, stuck.storage_key)
    at_now.set(NOW + timedelta(hours=2))

    result = _sweep(context, at_now.now(), cast(ClipStorage, refusing))

    # The batch was refused as a whole, then tried key by key: the other two are gone.
    assert result.deleted == 2
    assert [context.storage.exists(_clip(context, c["id"]).storage_key) for c in clips] == [
        False,
        True,
        False,
    ]
    # The refused clip waits in the erased queue (no longer playable), the watermark moved on.
    stuck = _clip(context, clips[1]["id"])
    assert (stuck.erased_at, stuck.deleted_at) == (at_now.now(), None)
    assert _mark(context).id == uuid.UUID(clips[0]["id"])
    # Still refused at the next run: tried once, kept, nothing else blocked.
    assert _sweep(context, at_now.now(), cast(ClipStorage, refusing)).deleted == 0
    # Once the storage lets go, the next run deletes it and records it.
    assert _sweep(context, at_now.now()).deleted == 1
    assert not context.storage.exists(stuck.storage_key)
    assert _clip(context, clips[1]["id"]).deleted_at == at_now.now()
