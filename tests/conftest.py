"""Fixtures shared by the whole suite.

Every database test runs twice, on SQLite and on PostgreSQL (the `backend` parameter).
Each run and worker gets its own migrated database; each test starts from empty tables
and a fixed clock (2026-03-01T12:00Z) that only the test moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from kasacare.app import build_context, create_app
from kasacare.catalog.loader import load_catalog
from kasacare.catalog.schemas import Catalog
from kasacare.config import Settings
from kasacare.context import AppContext
from kasacare.devices.codes import DeviceClaims
from kasacare.kit.clock import FixedClock
from kasacare.payments.sandbox import SandboxGateway
from tests.databases import (
    BACKENDS,
    empty_sandbox,
    empty_storage,
    empty_tables,
    fresh_database,
)

TEST_CATALOG = Path(__file__).with_name("catalog.toml")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADMIN_TOKEN = "test-admin-token-0123456789"
#: Tests bind cameras by serial (`KASACARE_DEVICE_CLAIMS=off`, development only), the one
#: place that says so: the settings below and every test server (`tests.e2e.server`). The
#: claim tests (tests/devices, tests/e2e/test_device_claims_http.py) turn it back to the
#: default, `required`.
DEVICE_CLAIMS = DeviceClaims.OFF


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(TEST_CATALOG)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        storage_url=f"file://{tmp_path_factory.mktemp('clips')}",
        admin_token=SecretStr(ADMIN_TOKEN),
        catalog_path=TEST_CATALOG,
        # Tests run jobs themselves, at instants they choose: no timers.
        jobs_interval_seconds=0,
        sweep_interval_seconds=0,
        mail_interval_seconds=0,
        media_interval_seconds=0,
        commands_interval_seconds=0,
        device_claims=DEVICE_CLAIMS,
    )


@pytest.fixture(scope="session")
def session_context(settings: Settings, catalog: Catalog) -> Iterator[AppContext]:
    context = build_context(settings, catalog=catalog, clock=FixedClock(START))
    yield context
    context.engine.dispose()
    if isinstance(context.gateway, SandboxGateway):
        context.gateway.dispose()


@pytest.fixture
def clock(session_context: AppContext) -> FixedClock:
    clock = session_context.clock
    assert isinstance(clock, FixedClock)
    clock.set(START)
    return clock


@pytest.fixture
def context(session_context: AppContext, clock: FixedClock) -> Iterator[AppContext]:
    yield session_context
    empty_tables(session_context.engine)
    empty_sandbox(session_context.gateway)
    empty_storage(session_context.storage)


@pytest.fixture
def client(context: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(context), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
