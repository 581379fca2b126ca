"""Device claim tests run with claims required, the default the shared test settings turn
off (`tests.conftest.DEVICE_CLAIMS`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from kasacare.app import create_app
from kasacare.context import AppContext
from kasacare.devices.codes import DeviceClaims


@pytest.fixture
def claims_context(context: AppContext) -> AppContext:
    settings = context.settings.model_copy(update={"device_claims": DeviceClaims.REQUIRED})
    return replace(context, settings=settings)


@pytest.fixture
def claims_client(claims_context: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(claims_context), raise_server_exceptions=False) as client:
        yield client
