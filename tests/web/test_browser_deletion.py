"""Deleting an account in a real headless Chromium against a real `kasacare serve` with a
real SMTP server (issue 13 item 2): the page quotes what happens, a wrong password is
refused, the right one deletes the account, signs the browser out and mails the verified
address a last time; the address no longer signs in.

Skipped without /usr/bin/chromium, as tests/web/test_browser.py is."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from tests.notifications.test_mail import SmtpServer
from tests.web import test_browser_account as account_browser
from tests.web.test_browser import add_camera, new_email, screenshot, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

# The server, SMTP server and browser of the self-service browser tests.
mail = account_browser.mail
base_url = account_browser.base_url
api = account_browser.api
browser = account_browser.browser
page = account_browser.page
mail_to = account_browser.mail_to
open_link = account_browser.open_link


def test_issue_13_item_2_an_account_is_deleted_from_its_page(
    page: Page, api: httpx.Client, mail: SmtpServer
) -> None:
    email = new_email("leaving")
    sign_up(page, email)
    open_link(page, mail_to(api, mail, email, "Confirm your email address for Kasa Care"))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_have_text("Email verified")
    add_camera(page, f"SN{email.split('@')[0][-8:].upper()}", "Hall")

    page.goto("/app/account")
    page.get_by_role("link", name="See what deleting your account does").click()
    expect(page.get_by_role("heading", name="Delete your account")).to_be_visible()
    expect(page.locator("[data-quote=cameras]")).to_contain_text("1 camera removed")
    expect(page.locator("[data-quote=clips]")).to_contain_text("0 clips")

    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("alert")).to_be_visible()
    screenshot(page, "delete-account")

    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status")).to_have_text("Your account was deleted")
    told = mail_to(api, mail, email, "Your Kasa Care account was deleted")
    assert "last message" in told.get_content()

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match an account")
