"""The export job (issue 13 item 3) in process, on SQLite and PostgreSQL: asking twice while
one is being built gives the same export, and a build that fails waits its back-off and is
tried again (its own row; the end-to-end tests are in tests/e2e/test_export_http.py)."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.accounts.export import run_exports
from kasacare.accounts.export_models import DataExport
from kasacare.accounts.models import MailKind
from kasacare.clips.storage import LocalDiskStorage
from kasacare.context import AppContext
from kasacare.kit.backoff import backoff
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import session_scope
from tests.factories import PASSWORD, owner
from tests.mailbox import outbox


def _exports(context: AppContext) -> list[DataExport]:
    with session_scope(context.sessions) as session:
        return list(session.scalars(select(DataExport)))


def test_issue_13_item_3_asking_again_while_building_returns_the_same_export(
    client: TestClient, context: AppContext
) -> None:
    _, headers = owner(client)
    first = client.post("/v1/me/export", headers=headers)
    second = client.post("/v1/me/export", headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == second.json()
    assert len(_exports(context)) == 1
    assert client.get("/v1/me/export").status_code == 401


def test_issue_13_item_3_a_failed_build_waits_its_back_off_then_is_retried(
    client: TestClient, context: AppContext, clock: FixedClock, tmp_path: Path
) -> None:
    _, headers = owner(client, "exporter@example.com")
    assert client.get("/v1/me/export", headers=headers).status_code == 404
    assert client.post("/v1/me/export", headers=headers).status_code == 202
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")  # a storage root that is a file: every put fails
    now = clock.now()
    assert run_exports(context.sessions, LocalDiskStorage(blocked), now) == 0
    [row] = _exports(context)
    assert (row.job_failures, row.job_retry_at, row.ready_at) == (1, now + backoff(1), None)
    assert run_exports(context.sessions, context.storage, now) == 0  # still waiting
    later = now + backoff(1)
    assert run_exports(context.sessions, context.storage, later) == 1
    [row] = _exports(context)
    assert (row.ready_at, row.expires_at) == (later, later + timedelta(hours=24))
    assert client.get("/v1/me/export", headers=headers).json()["state"] == "ready"
    assert row.storage_key is not None
    path = context.storage.local_file(row.storage_key)
    assert path is not None
    assert "account.json" in zipfile.ZipFile(path).namelist()
    [mail] = [m for m in outbox(context, "exporter@example.com") if m.kind is MailKind.EXPORT_READY]
    assert mail.link_token is not None and mail.link_token.startswith("kc_export_")


def test_issue_13_item_3_deleting_the_account_deletes_its_exports_at_once(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    _, headers = owner(client, "leaving@example.com")
    assert client.post("/v1/me/export", headers=headers).status_code == 202
    assert run_exports(context.sessions, context.storage, clock.now()) == 1
    [row] = _exports(context)
    assert row.storage_key is not None
    assert context.storage.exists(row.storage_key)
    assert client.post("/v1/me/export", headers=headers).status_code == 202  # not built yet
    done = client.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=headers)
    assert done.status_code == 200, done.text
    assert not context.storage.exists(row.storage_key)  # deleted after the commit
    assert all(r.file_deleted_at is not None or r.storage_key is None for r in _exports(context))
    assert all(r.digest is None for r in _exports(context))
    assert run_exports(context.sessions, context.storage, clock.now()) == 0  # none built
