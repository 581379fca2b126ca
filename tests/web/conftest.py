"""What the in-process page tests share: a cookie-keeping client over HTTPS (the session
cookie is Secure) and the CSRF token of a rendered form. The browser tests (Playwright)
define their own `browser`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kasacare.app import create_app
from kasacare.context import AppContext


@pytest.fixture
def browser(context: AppContext) -> Iterator[TestClient]:
    with TestClient(
        create_app(context), base_url="https://testserver", raise_server_exceptions=False
    ) as client:
        yield client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)
