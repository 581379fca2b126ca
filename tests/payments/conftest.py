"""Payment fixtures: the sandbox gateway of the test context (emptied by tests/conftest.py)."""

from __future__ import annotations

import pytest

from kasacare.context import AppContext
from kasacare.payments.sandbox import SandboxGateway


@pytest.fixture
def gateway(context: AppContext) -> SandboxGateway:
    assert isinstance(context.gateway, SandboxGateway)
    return context.gateway
