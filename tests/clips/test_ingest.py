"""Clip upload in groups (V1): one group of uploads, stored together by `clips.ingest`, gets
for each upload exactly the answer it would get alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kasacare.clips.errors import NoCloudRecording, UnsupportedClipType, UploadTooSlow
from kasacare.clips.ingest import Stored, Submission, ingest
from kasacare.clips.models import Clip, ClipKind
from kasacare.clips.service import Upload
from kasacare.clips.storage import Blob, ClipStorage, LocalDiskStorage
from kasacare.clips.sweeper import sweep
from kasacare.clips.watermark import SAFETY_LAG
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.kit.errors import Unauthorized, ValidationFailed
from kasacare.kit.security import token_digest
from tests.factories import VIDEO, card_on_file, owner, register_camera, subscribe

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
#: The test catalog's history windows (tests/catalog.toml).
HISTORY_DAYS = {"plus": 30, "premium": 30, "legacy-plus": 14}


@pytest.fixture
def at_now(clock: FixedClock) -> FixedClock:
    clock.set(NOW)
    return clock


def submission(
    token: str,
    started_at: datetime,
    *,
    kind: ClipKind = ClipKind.MOTION,
    data: bytes = VIDEO,
    refusal: UnsupportedClipType | None = None,
) -> Submission:
    upload = Upload(started_at, 20, kind, len(data), "video/mp4")
    return Submission(token_digest(token), upload, data, refusal)


def run(context: AppContext, group: list[Submission]) -> list[Stored | Exception]:
    return ingest(context.engine, context.catalog, context.storage, context.clock.now, group)


def stored_clips(context: AppContext) -> tuple[int, int]:
    """(clip rows, clip files)."""
    with context.sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Clip))
    storage = context.storage
    assert isinstance(storage, LocalDiskStorage)
    return rows or 0, sum(1 for _ in storage.root.rglob("*.mp4"))


def test_v1_each_upload_of_a_group_gets_its_own_answer(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    kc120 = register_camera(client, headers, "KC120")["device_token"]  # free plan, 48 h
    other = register_camera(client, headers, "KC120")["device_token"]
    kc105 = register_camera(client, headers, "KC105")["device_token"]  # no cloud recording
    minute_ago = NOW - timedelta(minutes=1)
    outcomes = run(
        context,
        [
            submission(kc120, minute_ago),
            submission("not-a-device-token", minute_ago),
            submission(kc120, minute_ago),  # the same upload twice in one group
            submission(kc105, minute_ago),
            submission(kc120, NOW - timedelta(hours=48, seconds=1)),  # outside the window
            submission(other, minute_ago, refusal=UnsupportedClipType("video/webm")),
            submission(other, minute_ago),
        ],
    )
    first, unknown, twice, no_cloud, too_old, refused, second_camera = outcomes
    assert isinstance(first, Stored) and first.created
    assert first.expires_at == minute_ago + timedelta(hours=48)
    assert isinstance(unknown, Unauthorized)
    assert isinstance(twice, Stored) and (twice.id, twice.created) == (first.id, False)
    assert isinstance(no_cloud, NoCloudRecording)
    assert isinstance(too_old, ValidationFailed)
    assert isinstance(refused, UnsupportedClipType)
    assert isinstance(second_camera, Stored) and second_camera.created
    assert second_camera.camera_id != first.camera_id
    assert stored_clips(context) == (2, 2)


def test_v1_a_retry_in_a_later_group_answers_the_stored_clip_and_keeps_no_bytes(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    token = register_camera(client, headers, "KC120")["device_token"]
    started = NOW - timedelta(minutes=2)
    (first,) = run(context, [submission(token, started)])
    at_now.advance(timedelta(seconds=30))
    retry, fresh = run(context, [submission(token, started), submission(token, NOW)])
    assert isinstance(first, Stored) and isinstance(retry, Stored) and isinstance(fresh, Stored)
    assert (retry.id, retry.created, retry.expires_at) == (first.id, False, first.expires_at)
    assert fresh.created and fresh.id != first.id
    assert stored_clips(context) == (2, 2)


def test_v5_a_manual_clip_needs_manual_recording(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    _, headers = owner(client)
    kc120 = register_camera(client, headers, "KC120")["device_token"]
    kc115 = register_camera(client, headers, "KC115")["device_token"]
    manual, refused = run(
        context,
        [
            submission(kc120, NOW - timedelta(seconds=20), kind=ClipKind.MANUAL),
            submission(kc115, NOW - timedelta(seconds=20), kind=ClipKind.MANUAL),
        ],
    )
    assert isinstance(manual, Stored) and manual.created
    assert isinstance(refused, NoCloudRecording)
    assert stored_clips(context) == (1, 1)


def test_v1_each_camera_of_a_group_is_kept_by_what_covers_it(
    client: TestClient, context: AppContext, at_now: FixedClock, admin_headers: dict[str, str]
) -> None:
    """The group's one read (cameras with their coverage) gives each camera its own window:
    free plan 48 h, Plus 30 days, a Premium trial 30 days, legacy Plus 14 days, none (KC105)."""
    cameras = {}
    for name, model, plan in (
        ("free", "KC120", None),
        ("plus", "KC120", "plus"),
        ("trial", "KC120", "premium"),
        ("legacy", "KC120", None),
        ("none", "KC105", None),
    ):
        account, headers = owner(client, f"{name}@example.com")
        card_on_file(client, headers)
        cameras[name] = register_camera(client, headers, model)
        if plan is not None:
            subscribe(client, headers, [cameras[name]["id"]], plan=plan, trial=name == "trial")
        if name == "legacy":
            legacy_account = account["id"]
    response = client.post(
        "/v1/admin/legacy-subscriptions",
        json={
            "account_id": legacy_account,
            "plan": "legacy-plus",
            "cycle": "monthly",
            "camera_ids": [cameras["legacy"]["id"]],
            "price": {"amount": 299, "currency": "USD"},
            "paid": {"amount": 299, "currency": "USD"},
            "current_period_start": "2026-03-20T00:00:00Z",
            "current_period_end": "2026-04-20T00:00:00Z",
            "channel": "direct",
        },
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    started = NOW - timedelta(minutes=1)
    names = ["free", "plus", "trial", "legacy", "none"]
    outcomes = run(context, [submission(cameras[name]["device_token"], started) for name in names])
    kept = {
        name: outcome.expires_at - started if isinstance(outcome, Stored) else type(outcome)
        for name, outcome in zip(names, outcomes, strict=True)
    }
    history = {plan: timedelta(days=days) for plan, days in HISTORY_DAYS.items()}
    assert kept == {
        "free": timedelta(hours=48),
        "plus": history["plus"],
        "trial": history["premium"],
        "legacy": history["legacy-plus"],
        "none": NoCloudRecording,
    }


def test_v2_a_group_that_took_longer_than_the_sweepers_lag_keeps_nothing(
    client: TestClient, context: AppContext, at_now: FixedClock
) -> None:
    """The sweeper's watermark counts on a clip committing within SAFETY_LAG of the `now`
    its window was checked at; a group slower than that is refused (503), stores nothing,
    and the camera's retry is stored normally."""
    _, headers = owner(client)
    token = register_camera(client, headers, "KC120")["device_token"]
    readings = iter([NOW, NOW + SAFETY_LAG])  # the group starts, then its bytes are written

    (slow,) = ingest(
        context.engine,
        context.catalog,
        context.storage,
        lambda: next(readings),
        [submission(token, NOW - timedelta(minutes=1))],
    )
    assert isinstance(slow, UploadTooSlow) and slow.status == 503
    assert stored_clips(context) == (0, 0)
    (retry,) = run(context, [submission(token, NOW - timedelta(minutes=1))])
    assert isinstance(retry, Stored) and retry.created
    assert stored_clips(context) == (1, 1)


class ChangeDuringWrite(LocalDiskStorage):
    """The local disk, where a plan change is made while a group's bytes are being written:
    after the group's read of its cameras' coverage, before its rows are inserted.

    On SQLite the change commits then (the group reads the coverage again before its rows).
    On PostgreSQL the group holds its cameras' coverage locks from before its one read
    (`clips.ingest`): the change, in a thread of its own, waits for the group's commit and
    then decides the new clips' window itself; `finish` waits for it."""

    def __init__(self, storage: ClipStorage, change: Callable[[], None], backend: str) -> None:
        assert isinstance(storage, LocalDiskStorage)
        super().__init__(storage.root)
        self.change = change
        self.waits = backend == "postgresql"
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def put_many(self, items: Sequence[Blob]) -> None:
        super().put_many(items)
        if self.waits:
            self.thread = threading.Thread(target=self._change)
            self.thread.start()
        else:
            self.change()

    def _change(self) -> None:
        try:
            self.change()
        except BaseException as error:
            self.failure = error

    def finish(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=60)
            assert not self.thread.is_alive()
        if self.failure is not None:
            raise self.failure


def test_v3_a_cancel_committed_while_a_group_writes_decides_its_clips(
    client: TestClient, context: AppContext, at_now: FixedClock, backend: str
) -> None:
    """Plus covers a KC105 (no cloud recording of its own) and a KC120 (free plan 48 h) when
    the group reads them; the owner cancels before the rows go in. The clips get what the
    cameras have after the cancel: none for the KC105 (refused, its bytes deleted), 48 h for
    the KC120, not Plus's 30 days (V3: nothing outside the new window stays)."""
    _, headers = owner(client)
    card_on_file(client, headers)
    kc105 = register_camera(client, headers, "KC105")
    kc120 = register_camera(client, headers, "KC120")
    subscribe(client, headers, [kc105["id"], kc120["id"]], plan="plus")

    def cancel() -> None:
        assert client.delete("/v1/subscription", headers=headers).status_code == 200

    started = NOW - timedelta(minutes=1)
    storage = ChangeDuringWrite(context.storage, cancel, backend)
    no_cloud, free = ingest(
        context.engine,
        context.catalog,
        storage,
        context.clock.now,
        [submission(kc105["device_token"], started), submission(kc120["device_token"], started)],
    )
    storage.finish()
    with context.sessions() as session:
        kept = session.execute(select(Clip.expires_at).where(Clip.erased_at.is_(None))).all()
    assert kept == [(started + timedelta(hours=48),)]
    if backend == "postgresql":  # stored with Plus's window, then erased and re-dated
        assert isinstance(no_cloud, Stored) and isinstance(free, Stored)
        assert stored_clips(context) == (2, 1)  # the KC105's row stays listed, erased
    else:
        assert isinstance(no_cloud, NoCloudRecording)
        assert isinstance(free, Stored) and free.expires_at == started + timedelta(hours=48)
        assert stored_clips(context) == (1, 1)


def test_c6_a_camera_unbound_while_a_group_writes_keeps_no_clip(
    client: TestClient, context: AppContext, at_now: FixedClock, backend: str
) -> None:
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")

    def unbind() -> None:
        response = client.delete(f"/v1/cameras/{camera['id']}?confirm=true", headers=headers)
        assert response.status_code == 204

    storage = ChangeDuringWrite(context.storage, unbind, backend)
    (refused,) = ingest(
        context.engine,
        context.catalog,
        storage,
        context.clock.now,
        [submission(camera["device_token"], NOW - timedelta(minutes=1))],
    )
    storage.finish()
    if backend == "postgresql":  # stored, then erased by the unbinding; the sweeper's next
        assert isinstance(refused, Stored)  # run deletes its bytes
        with context.sessions() as session:
            assert session.scalar(select(Clip.erased_at)) is not None
        sweep(context.sessions, context.storage, context.catalog, context.clock.now())
        assert stored_clips(context) == (1, 0)
    else:
        assert isinstance(refused, Unauthorized)
        assert stored_clips(context) == (0, 0)
