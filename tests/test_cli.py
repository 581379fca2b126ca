"""The `kasacare` command: configuration errors, migrations, refusing a newer database."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from kasacare.kit.db import create_db_engine
from kasacare.kit.migrate import current_revision, head_revision
from tests.databases import fresh_database
from tests.e2e.server import VENV_BIN, kasacare_env

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
