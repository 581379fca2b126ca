"""The coverage lock between upload groups and plan changes (`clips.coverage_lock`), on a
real PostgreSQL: groups share it, a change waits for the groups that hold its cameras. (On
SQLite both sides are write transactions, which SQLite runs one at a time.)"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from kasacare.clips.coverage_lock import NAMESPACE, lock_cameras, lock_tokens
from kasacare.context import AppContext
from kasacare.kit.security import token_digest
from tests.factories import owner, register_camera

WAITING = text(
    "SELECT count(*) FROM pg_locks "
    "WHERE locktype = 'advisory' AND NOT granted AND classid = CAST(:namespace AS oid)"
)


@pytest.fixture
def engine(context: AppContext) -> Engine:
    if context.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: there is no lock to take")
    return context.engine


def _waiting(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(WAITING, {"namespace": NAMESPACE}) or 0)


def _until_one_waits(engine: Engine) -> int:
    """How many wait for a coverage lock, once one does (30 s at most)."""
    deadline = time.monotonic() + 30
    while _waiting(engine) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return _waiting(engine)


def test_v3_a_change_waits_for_the_upload_groups_holding_its_cameras(engine: Engine) -> None:
    camera, other = uuid.uuid4(), uuid.uuid4()
    changed = threading.Event()

    def change() -> None:
        with engine.begin() as connection:
            lock_cameras(connection, [other, camera], shared=False)
            changed.set()

    with engine.connect() as group, engine.connect() as second_group:
        with group.begin():
            lock_cameras(group, [camera], shared=True)
            with second_group.begin():  # groups share the lock: this returns at once
                lock_cameras(second_group, [camera, other], shared=True)
            worker = threading.Thread(target=change)
            worker.start()
            # The change asked for the lock and waits while the first group holds it.
            assert _until_one_waits(engine) == 1
            assert not changed.is_set()
        worker.join(30)
    assert changed.is_set()
    assert _waiting(engine) == 0


def test_v3_a_group_waits_for_a_change_holding_one_of_its_cameras(engine: Engine) -> None:
    camera = uuid.uuid4()
    grouped = threading.Event()

    def group() -> None:
        with engine.begin() as connection:
            lock_cameras(connection, [uuid.uuid4(), camera], shared=True)
            grouped.set()

    with engine.connect() as change, change.begin():
        lock_cameras(change, [camera], shared=False)
        worker = threading.Thread(target=group)
        worker.start()
        assert _until_one_waits(engine) == 1
        assert not grouped.is_set()
    worker.join(30)
    assert grouped.is_set()


def test_v3_a_group_locking_by_device_tokens_waits_for_a_change_of_their_camera(
    engine: Engine, client: TestClient
) -> None:
    """An upload group on PostgreSQL locks its cameras by their device tokens before its one
    read (`lock_tokens`, issue 11 item 6): the same lock as `lock_cameras`, so it waits for a
    change that holds the camera, then answers the cameras it locked (an unknown token none)."""
    _, headers = owner(client)
    camera = register_camera(client, headers, "KC120")
    camera_id = uuid.UUID(camera["id"])
    locked: list[set[uuid.UUID]] = []

    def group() -> None:
        digests = [token_digest(camera["device_token"]), token_digest("not-a-device-token")]
        with engine.begin() as connection:
            locked.append(lock_tokens(connection, digests))

    with engine.connect() as change, change.begin():
        lock_cameras(change, [camera_id], shared=False)
        worker = threading.Thread(target=group)
        worker.start()
        assert _until_one_waits(engine) == 1
        assert not locked
    worker.join(30)
    assert locked == [{camera_id}]
