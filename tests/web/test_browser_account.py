"""Account self-service in a real headless Chromium against a real `kasacare serve` with the
test clock and a real SMTP server (aiosmtpd), issue 13 item 1: a forgotten password reset
from the link in the mail, and an email address verified then changed through the links
mailed to each address. The operator's clock advance runs the mail job, so each mail is in
the inbox when the call returns (no waiting on a timer).

Skipped without /usr/bin/chromium, as tests/web/test_browser.py is."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD
from tests.mailbox import LINK
from tests.notifications.test_mail import SmtpServer
from tests.web.test_browser import (
    ADMIN,
    CHROMIUM,
    CHROMIUM_ARGS,
    new_email,
    require_browser,
    screenshot,
    sign_in,
    sign_up,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

NEW_PASSWORD = "a much better passphrase"


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, mail: SmtpServer) -> Iterator[str]:
    require_browser()
    directory = tmp_path_factory.mktemp("browser-account-server")
    with fresh_database("sqlite", directory) as database_url:
        env = server_env(database_url, directory)
        env.update(KASACARE_SMTP_URL=mail.url, KASACARE_MAIL_INTERVAL_SECONDS="0")
        with running_server(env, directory / "server.log") as base:
            yield base


@pytest.fixture(scope="module")
def api(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def browser(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with sync_playwright() as driver:
        yield _launch(driver, tmp_path_factory.mktemp("chromium-profile"), base_url)


def _launch(driver: Playwright, profile: Path, base_url: str) -> BrowserContext:
    context = driver.chromium.launch_persistent_context(
        profile,
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        base_url=base_url,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(15_000)
    expect.set_options(timeout=10_000)
    return context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    browser.clear_cookies()
    tab = browser.new_page()
    yield tab
    tab.close()


def mail_to(api: httpx.Client, mail: SmtpServer, address: str, subject: str) -> EmailMessage:
    """The newest mail to `address` with `subject`, after the mail job ran (the clock moves
    one second: every link lasts far longer)."""
    moved = api.post("/v1/admin/clock/advance", json={"seconds": 1}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    found = [m for to, m in mail.inbox.received if to == [address] and m["Subject"] == subject]
    assert found, (
        f"no mail {subject!r} to {address}: {[m['Subject'] for _, m in mail.inbox.received]}"
    )
    return found[-1]


def open_link(page: Page, message: EmailMessage) -> None:
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    link = urlsplit(found.group(0))
    page.goto(f"{link.path}?{link.query}")


def test_issue_13_item_1_a_forgotten_password_is_reset_from_the_mailed_link(
    page: Page, api: httpx.Client, mail: SmtpServer
) -> None:
    email = new_email("reset")
    sign_up(page, email)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("status")).to_contain_text(f"If an account uses {email}")

    open_link(page, mail_to(api, mail, email, "Reset your Kasa Care password"))
    page.get_by_label("New password").fill(NEW_PASSWORD)
    screenshot(page, "reset-password")
    page.get_by_role("button", name="Set my new password").click()
    expect(page.get_by_role("status")).to_have_text(
        "Password changed. Sign in with your new password."
    )

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match an account")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Kasa Care", exact=True)).to_be_visible()


def test_issue_13_item_1_an_email_is_verified_then_changed_through_the_mailed_links(
    page: Page, api: httpx.Client, mail: SmtpServer
) -> None:
    old, new = new_email("old"), new_email("new")
    sign_up(page, old)
    banner = page.get_by_text("Please confirm your email address")
    expect(banner).to_be_visible()

    open_link(page, mail_to(api, mail, old, "Confirm your email address for Kasa Care"))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_have_text("Email verified")
    expect(banner).to_have_count(0)

    page.get_by_label("New email address").fill(new)
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Change email address").click()
    expect(page.get_by_role("status")).to_have_text(
        "Check your new address: we sent it a link to confirm"
    )
    expect(page.get_by_text(f"{old} (confirmed)")).to_be_visible()  # not changed yet

    open_link(page, mail_to(api, mail, new, "Confirm your new email address for Kasa Care"))
    page.get_by_role("button", name="Use my new email address").click()
    expect(page.get_by_role("status")).to_have_text("Email address changed")
    expect(page.get_by_text(f"{new} (confirmed)")).to_be_visible()
    screenshot(page, "account")
    told = mail_to(api, mail, old, "Your Kasa Care email address was changed")
    assert new in told.get_content()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(new)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Kasa Care", exact=True)).to_be_visible()


def test_issue_13_item_4_a_form_sent_after_the_session_ended_comes_back_filled(
    page: Page, api: httpx.Client
) -> None:
    email = new_email("kept")
    sign_up(page, email)
    page.goto("/app/account")
    page.get_by_label("New email address").fill("kept-new@example.com")
    page.get_by_label("Your password").fill(PASSWORD)
    moved = api.post("/v1/admin/clock/advance", json={"seconds": 13 * 3600}, headers=ADMIN)
    assert moved.status_code == 200, moved.text  # past the 12 h session
    page.get_by_role("button", name="Change email address").click()
    expect(page.get_by_role("alert")).to_have_text(
        "You were signed out. Sign in again to go on where you were."
    )
    sign_in(page, email, go=False)  # on the sign-in page the redirect led to
    expect(page.get_by_role("status")).to_contain_text("We kept what you typed (not passwords)")
    expect(page.get_by_label("New email address")).to_have_value("kept-new@example.com")
    expect(page.get_by_label("Your password")).to_have_value("")
    screenshot(page, "kept-form")


def test_issue_14_item_4_a_refused_email_change_comes_back_filled_and_a_refresh_posts_nothing(
    page: Page,
) -> None:
    """Post/redirect/get on the account page: a wrong password goes back to the form with
    its banner, the new address filled in again and the password field empty and marked; a
    refresh only reloads the page."""
    sign_up(page, new_email("prg"))
    page.goto("/app/account")
    page.get_by_label("New email address").fill("prg-new@example.com")
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Change email address").click()

    def refused() -> None:
        expect(page.get_by_role("alert")).to_have_text("That isn't your current password.")
        parts = urlsplit(page.url)
        assert (parts.path, parts.query) == ("/app/account", "problem=wrong_password")
        assert "prg-new" not in page.url and "not my password" not in page.url
        expect(page.get_by_label("New email address")).to_have_value("prg-new@example.com")
        password = page.get_by_label("Your password")
        expect(password).to_have_value("")
        expect(password).to_have_attribute("aria-invalid", "true")

    refused()
    posts: list[str] = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    page.reload()
    refused()
    assert posts == []  # the refresh sent nothing again
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Change email address").click()
    expect(page.get_by_role("status")).to_have_text(
        "Check your new address: we sent it a link to confirm"
    )
