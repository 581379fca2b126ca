"""The "Export your data" page in-process (issue 13 item 3): the button, the state it shows
(requested, ready, expired), and the mailed link's download, signed in; another account's
link answers 404 and an expired one 410."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from fastapi.testclient import TestClient

from kasacare.accounts.export import run_exports
from kasacare.accounts.models import MailKind
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.factories import PASSWORD
from tests.mailbox import pending_link
from tests.web.conftest import csrf
from tests.web.test_account_pages import sign_up

EMAIL = "exporter@example.com"


def test_issue_13_item_3_the_export_page_asks_shows_the_state_and_downloads(
    browser: TestClient, context: AppContext, clock: FixedClock
) -> None:
    welcome = sign_up(browser, EMAIL)
    assert 'href="/app/account/export"' in browser.get("/app/account").text
    page = browser.get("/app/account/export")
    assert page.status_code == 200 and "data-export" not in page.text
    asked = browser.post("/app/account/export", data={"csrf_token": csrf(welcome)})
    assert "We are preparing your export" in asked.text
    assert 'data-export="requested"' in asked.text
    assert run_exports(context.sessions, context.storage, clock.now()) == 1
    assert 'data-export="ready"' in browser.get("/app/account/export").text
    token = pending_link(context, EMAIL, MailKind.EXPORT_READY)

    answer = browser.get(f"/app/account/export/{token}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    account = json.loads(zipfile.ZipFile(io.BytesIO(answer.content)).read("account.json"))
    assert account["email"] == EMAIL

    with TestClient(
        browser.app, base_url="https://testserver", raise_server_exceptions=False
    ) as other:
        sign_up(other, "someone-else@example.com")
        assert other.get(f"/app/account/export/{token}").status_code == 404

    clock.advance(timedelta(hours=24))
    run_exports(context.sessions, context.storage, clock.now())  # deletes the file
    form = browser.get("/signin")  # the web session (12 hours) ended meanwhile
    browser.post(
        "/signin", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf(form.text)}
    )
    expired = browser.get(f"/app/account/export/{token}")
    assert expired.status_code == 410
    assert 'data-export="expired"' in expired.text
