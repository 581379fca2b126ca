"""A session that ends sends the person back where they were (issue 13, hardening): the
sign-in page says why and, once signed in, returns to the page they were on; only pages of
ours are returned to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from kasacare.kit.clock import FixedClock
from kasacare.web.guard import safe_next
from tests.factories import PASSWORD
from tests.web.conftest import csrf
from tests.web.test_pages import sign_up


def _sign_in(browser: TestClient, next_page: str | None) -> str:
    """Sign in through the form the redirect led to; the address it ends on."""
    form = browser.get("/signin", params={"next": next_page} if next_page else None)
    data = {"email": "web@example.com", "password": PASSWORD, "csrf_token": csrf(form.text)}
    if next_page is not None:
        data["next"] = next_page
    response = browser.post("/signin", data=data, follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    return location


def test_an_expired_session_is_named_and_the_page_comes_back_after_sign_in(
    browser: TestClient, clock: FixedClock
) -> None:
    sign_up(browser)
    clock.advance(timedelta(hours=13))  # past the 12 h access token
    away = browser.get("/app/activity?kind=manual", follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == (
        "/signin?next=%2Fapp%2Factivity%3Fkind%3Dmanual&problem=session_expired"
    )
    page = browser.get(away.headers["location"])
    assert "You were signed out. Sign in again to go on where you were." in page.text
    assert 'name="next" value="/app/activity?kind=manual"' in page.text
    assert _sign_in(browser, "/app/activity?kind=manual") == "/app/activity?kind=manual"


def test_a_form_posted_after_the_session_ended_returns_to_the_form_page(
    browser: TestClient, clock: FixedClock
) -> None:
    sign_up(browser)
    form = browser.get("/app/cameras")
    clock.advance(timedelta(hours=13))
    posted = browser.post(
        "/app/cameras",
        data={"model": "KC120", "serial": "S1", "name": "Porch", "csrf_token": csrf(form.text)},
        headers={"Referer": "https://testserver/app/cameras"},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    assert posted.headers["location"].startswith("/signin?next=%2Fapp%2Fcameras&problem=")


def test_someone_never_signed_in_is_not_told_a_session_ended(browser: TestClient) -> None:
    away = browser.get("/app/billing", follow_redirects=False)
    assert away.headers["location"] == "/signin?next=%2Fapp%2Fbilling"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("/app/billing", "/app/billing"),
        ("/app/activity?day=2026-12-01", "/app/activity?day=2026-12-01"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/\\evil.example", None),
        ("app/billing", None),
        ("/app\nSet-Cookie: x", None),
        ("", None),
        (None, None),
    ],
)
def test_only_local_paths_are_returned_to(value: str | None, kept: str | None) -> None:
    assert safe_next(value) == kept


def test_a_foreign_next_is_ignored_after_sign_in(browser: TestClient) -> None:
    sign_up(browser)
    browser.post("/signout", data={"csrf_token": csrf(browser.get("/app/cameras").text)})
    assert _sign_in(browser, "https://evil.example/") == "/app/kasa-care"  # the home page
