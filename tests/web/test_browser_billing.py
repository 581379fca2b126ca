"""Billing as legal documents in a real headless Chromium against a real `kasacare serve`
with the seller configured (issue 14 items 1 and 2): a GB owner gives a billing address and
VAT number on the Billing page, sees the VAT on the review page, and gets an invoice that
names the seller, the customer, the VAT and the card; its PDF, fetched over HTTP from the
same server, says the same (read back with pypdf).

Skipped without /usr/bin/chromium, as tests/web/test_browser.py is."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from pypdf import PdfReader

from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    add_camera,
    add_card,
    confirm,
    new_email,
    require_browser,
    screenshot,
    select_services,
    sign_up,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

SELLER = {
    "KASACARE_SELLER_NAME": "Kasa Care Europe Ltd",
    "KASACARE_SELLER_ADDRESS": "1 Harbour Square; Dublin D02 X285; Ireland",
    "KASACARE_SELLER_TAX_ID": "IE9876543W",
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    directory = tmp_path_factory.mktemp("browser-billing-server")
    with fresh_database("sqlite", directory) as database_url:
        env = server_env(database_url, directory)
        env.update(SELLER)
        with running_server(env, directory / "server.log") as base:
            yield base


@pytest.fixture(scope="module")
def browser(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            base_url=base_url,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        expect.set_options(timeout=10_000)
        yield context
        context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    browser.clear_cookies()
    tab = browser.new_page()
    yield tab
    tab.close()


def test_issue14_gb_owner_gets_an_invoice_with_seller_customer_and_vat(
    page: Page, base_url: str
) -> None:
    email = new_email("vat")
    sign_up(page, email, country="GB")
    add_camera(page, "BRWTAX0001", "Front door")
    add_card(page)
    expect(page.get_by_text("Prices include VAT 20%")).to_be_visible()
    page.get_by_label("Name or company").fill("Ada Lovelace Ltd")
    page.get_by_label("Address", exact=True).fill("12 St James's Square")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postal code").fill("SW1Y 4JH")
    page.get_by_label("VAT number (EU and UK businesses, optional)").fill("GB 123 456 789")
    page.get_by_role("button", name="Save billing address").click()
    expect(page.get_by_role("status")).to_have_text("Billing address saved")

    select_services(page, "Kasa Care Plus", ["Front door · Kasa Cam (KC120)"])
    # £3.49 includes VAT: 349 / 1.2 = 290.83 -> net £2.91, VAT £0.58
    expect(page.locator('[data-quote="tax"]')).to_have_text("£0.58 (VAT 20%)")
    screenshot(page, "review-tax", docs="review-tax.png")
    confirm(page)

    page.goto("/app/billing")
    page.get_by_role("link", name="INV-000001").click()
    expect(page.get_by_role("heading", name="Invoice INV-000001")).to_be_visible()
    seller = page.locator("[data-seller]")
    expect(seller).to_contain_text("Kasa Care Europe Ltd")
    expect(seller).to_contain_text("VAT / tax ID: IE9876543W")
    customer = page.locator("[data-customer]")
    expect(customer).to_contain_text("Ada Lovelace Ltd")
    expect(customer).to_contain_text("VAT number: GB123456789")
    expect(page.locator('[data-total="tax"]')).to_have_text("£0.58")
    expect(page.locator("[data-payment]")).to_have_text("Charged to Visa •4242 £3.49")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == "INV-000001.pdf"
    screenshot(page, "invoice", docs="invoice.png")

    with httpx.Client(base_url=base_url, timeout=30) as api:
        token = api.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        (invoice,) = api.get("/v1/invoices", headers=headers).json()["items"]
        pdf = api.get(f"/v1/invoices/{invoice['id']}.pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    for part in (
        "Invoice INV-000001",
        "Kasa Care Europe Ltd",
        "Dublin D02 X285",
        "IE9876543W",
        "Ada Lovelace Ltd",
        "GB123456789",
        "Kasa Care Plus x 1 camera, monthly",
        "£2.91 20% £0.58 £3.49",
        "Total £3.49",
        "Charged to Visa •4242 £3.49",
    ):
        assert part in text, part
