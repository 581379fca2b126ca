"""The `kasacare` command: configuration errors, migrations, refusing a newer database, the
jobs worker."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from kasacare.app import build_context, create_app
from kasacare.billing.models import Invoice
from kasacare.config import Settings
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import create_db_engine
from kasacare.kit.migrate import current_revision, head_revision, upgrade
from tests.conftest import DEVICE_CLAIMS, TEST_CATALOG
from tests.databases import fresh_database
from tests.e2e.server import VENV_BIN, kasacare_env
from tests.factories import card_on_file, owner, register_camera, subscribe

KASACARE = str(VENV_BIN / "kasacare")


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KASACARE, *args],
        env=kasacare_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KASACARE_TEST_CLOCK", "sometimes"),
        ("KASACARE_DATABASE_URL", "mysql://root@localhost/kasa"),
        ("KASACARE_STORAGE_URL", "ftp://clips"),
        ("KASACARE_ADMIN_TOKEN", "short"),
        ("KASACARE_ACCESS_TOKEN_TTL_SECONDS", "-5"),
    ],
)
def test_a_bad_setting_stops_the_start_with_one_line_naming_it(variable: str, value: str) -> None:
    result = _run("serve", "--port", "1", **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"kasacare: {variable}: ")


def test_issue_13_item_4_production_will_not_start_without_a_secret_key() -> None:
    result = _run("serve", "--port", "1", KASACARE_ENV="production")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kasacare: KASACARE_SECRET_KEY is required when KASACARE_ENV=production"
    ]


def test_issue_13_item_4_secret_key_prints_a_master_the_settings_accept() -> None:
    printed = _run("secret-key")
    assert printed.returncode == 0
    master = printed.stdout.strip()
    assert len(master.encode()) >= 32
    ids = _run("key-ids", KASACARE_SECRET_KEY=master)
    assert ids.returncode == 0, ids.stderr
    assert ids.stdout.split() == [printed.stderr.split()[-1], "current"]


def test_a_broken_catalog_stops_the_start_naming_entry_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "catalog.toml"
    shipped = (Path(__file__).parent / "catalog.toml").read_text()
    broken.write_text(
        shipped.replace("free_history_hours = 48", 'free_history_hours = "two days"', 1)
    )
    result = _run(
        "serve",
        "--port",
        "1",
        KASACARE_CATALOG_PATH=str(broken),
        KASACARE_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"kasacare: catalog {broken}: models.KC120.free_history_hours: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


def test_migrate_brings_an_empty_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = _run("migrate", KASACARE_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    engine = create_db_engine(url)
    assert current_revision(engine) == head_revision(engine)
    assert "was empty" in result.stdout
    again = _run("migrate", KASACARE_DATABASE_URL=url)
    assert again.returncode == 0
    engine.dispose()


def test_serve_refuses_a_database_newer_than_its_code(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = create_db_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        engine.dispose()
        result = _run("serve", "--port", "1", KASACARE_DATABASE_URL=url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "schema revision f00d is newer than this code" in lines[0]


def _subscribed_a_month_ago(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A SQLite database where a Plus monthly subscription bought 32 days ago is due."""
    url = f"sqlite:///{tmp_path / 'kasacare.db'}"
    env = {
        "KASACARE_DATABASE_URL": url,
        "KASACARE_STORAGE_URL": f"file://{tmp_path / 'clips'}",
        "KASACARE_CATALOG_PATH": str(TEST_CATALOG),
    }
    settings = Settings(
        database_url=url,
        storage_url=env["KASACARE_STORAGE_URL"],
        catalog_path=TEST_CATALOG,
        jobs_interval_seconds=0,
        sweep_interval_seconds=0,
        mail_interval_seconds=0,
        media_interval_seconds=0,
        device_claims=DEVICE_CLAIMS,
    )
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    context = build_context(settings, clock=FixedClock(datetime.now(UTC) - timedelta(days=32)))
    with TestClient(create_app(context)) as client:
        _, headers = owner(client)
        card_on_file(client, headers)
        subscribe(client, headers, [register_camera(client, headers)["id"]])
    context.engine.dispose()
    return url, env


def _invoices(url: str) -> list[tuple[str, int]]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(Invoice.status, Invoice.charged)).all()
    engine.dispose()
    return sorted((str(status), int(charged)) for status, charged in rows)


def test_worker_once_runs_what_is_due_without_serving_http(tmp_path: Path) -> None:
    url, env = _subscribed_a_month_ago(tmp_path)
    result = _run("worker", "--once", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ran 1 due job steps"), result.stdout
    # The first month's 399 when it was bought, the renewal's 399 now (by the system clock).
    assert _invoices(url) == [("paid", 399), ("paid", 399)]
    again = _run("worker", "--once", **env)
    assert again.stdout.startswith("ran 0 due job steps"), again.stdout


def test_worker_runs_on_its_timer_until_it_is_stopped(tmp_path: Path) -> None:
    url, env = _subscribed_a_month_ago(tmp_path)
    worker = subprocess.Popen(
        [KASACARE, "worker", "--interval", "0.2"],
        env=kasacare_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_invoices(url)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert _invoices(url) == [("paid", 399), ("paid", 399)]
