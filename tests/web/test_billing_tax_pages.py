"""The Billing page's address form and the tax on the review page and documents (issue 14
item 1), in a GB account: VAT 20% included in prices."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from pypdf import PdfReader

from tests.web.conftest import csrf
from tests.web.test_pages import sign_up

ADDRESS = {
    "name": "Ada Owner",
    "line1": "1 Main Street",
    "line2": "",
    "city": "London",
    "region": "",
    "postal_code": "SW1A 1AA",
    "country": "GB",
}


def test_issue14_billing_address_form_keeps_what_was_typed_on_a_refusal(
    browser: TestClient,
) -> None:
    """Issue 14 items 1 and 4: a refused address goes back to the Billing page (post/redirect/
    get) with a banner about the field; what was typed comes back from a cookie for that page
    only, never through the address (personal data would end up in logs)."""
    sign_up(browser)
    billing = browser.get("/app/billing")
    assert "Prices include VAT 20%" in billing.text
    refused = browser.post(
        "/app/billing/address",
        data={**ADDRESS, "vat_number": "GB12", "csrf_token": csrf(billing.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location == "/app/billing?problem=vat_number_format#address"
    cookie = refused.headers["set-cookie"]
    assert cookie.startswith("kc_refused_form=") and "Path=/app/billing;" in cookie
    assert "HttpOnly" in cookie
    for shown in (browser.get(location).text, browser.get(location).text):  # and a refresh
        assert "That isn&#39;t the format of a VAT number of your billing country" in shown
        assert 'value="SW1A 1AA"' in shown and 'value="London"' in shown
        assert 'value="GB12" aria-invalid="true"' in shown
    afresh = browser.get("/app/billing")  # opened again: the typed values are gone
    assert 'value="SW1A 1AA"' not in afresh.text
    assert "kc_refused_form" in afresh.headers["set-cookie"]  # cleared
    saved = browser.post(
        "/app/billing/address",
        data={**ADDRESS, "vat_number": "GB 123 456 789", "csrf_token": csrf(afresh.text)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = browser.get(saved.headers["location"])
    assert "Billing address saved" in page.text
    assert 'value="GB123456789"' in page.text and 'value="London"' in page.text


def test_issue14_item4_a_refused_card_keeps_nothing_of_the_form(browser: TestClient) -> None:
    """Post/redirect/get for the card form: a refusal redirects with its code and sets no
    cookie; nothing card-like sent with the form (even by a broken client) comes back."""
    sign_up(browser)
    billing = browser.get("/app/billing")
    refused = browser.post(
        "/app/billing/card",
        data={
            "token": "tok_not_one_of_ours",
            "number": "4242424242424242",
            "exp_month": "12",
            "exp_year": "2030",
            "cvc": "987",
            "csrf_token": csrf(billing.text),
        },
        follow_redirects=False,
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == "/app/billing?problem=card_invalid#card"
    assert "set-cookie" not in refused.headers
    page = browser.get(refused.headers["location"]).text
    assert "That card number, expiry date or security code isn&#39;t valid." in page
    for echoed in ("4242424242424242", "tok_not_one_of_ours", "987", "2030"):
        assert echoed not in page


def test_issue14_item4_an_address_in_the_wrong_currency_names_the_country_field(
    browser: TestClient,
) -> None:
    sign_up(browser)
    billing = browser.get("/app/billing")
    refused = browser.post(
        "/app/billing/address",
        data={**ADDRESS, "country": "US", "csrf_token": csrf(billing.text)},
    )
    assert str(refused.url) == "https://testserver/app/billing?problem=billing_country#address"
    assert "Choose a billing country where Kasa Care sells" in refused.text
    assert 'name="country" aria-invalid="true"' in refused.text
    assert 'value="1 Main Street"' in refused.text


def test_issue14_review_and_invoice_show_the_vat(browser: TestClient) -> None:
    sign_up(browser)
    cameras = browser.get("/app/cameras")
    browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": "WEBTAX01",
            "name": "Porch",
            "csrf_token": csrf(cameras.text),
        },
    )
    token = browser.post(
        "/v1/sandbox/tokens",
        json={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    ).json()["token"]
    billing = browser.get("/app/billing")
    browser.post("/app/billing/card", data={"token": token, "csrf_token": csrf(billing.text)})
    care = browser.get("/app/kasa-care")
    camera_id = re.search(r'name="camera_ids" value="([^"]+)"', care.text).group(1)  # type: ignore[union-attr]
    form = {"action": "create", "plan": "plus", "cycle": "monthly", "camera_ids": camera_id}
    review = browser.post("/app/kasa-care/review", data={**form, "csrf_token": csrf(care.text)})
    # £3.49 includes VAT: 349 / 1.2 = 290.83 -> net £2.91, VAT £0.58
    assert '<dd data-quote="tax">£0.58 (VAT 20%)</dd>' in review.text
    browser.post("/app/kasa-care/apply", data={**form, "csrf_token": csrf(review.text)})
    billing = browser.get("/app/billing")
    invoice_path = re.search(r'href="(/app/billing/invoices/[^"]+)"', billing.text).group(1)  # type: ignore[union-attr]
    invoice = browser.get(invoice_path).text
    line = re.search(r"<tr data-line>(.*?)</tr>", invoice).group(1)  # type: ignore[union-attr]
    cells = re.findall(r'<td class="num">([^<]*)</td>', line)
    assert cells == ["£2.91", "20%", "£0.58", "£3.49"]
    assert '<th class="num" data-total="net">£2.91</th>' in invoice
    assert '<th class="num" data-total="tax">£0.58</th>' in invoice
    assert '<th class="num" data-total="gross">£3.49</th>' in invoice
    # issue 14 item 2: the printable page is the same document as the PDF
    assert "<p data-payment>Charged to Visa •4242 £3.49</p>" in invoice
    assert "<section data-seller><h2>From</h2><p>Kasa Care" in invoice
    assert "download>Download PDF</a>" in invoice
    pdf = browser.get(f"{invoice_path}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "£2.91 20% £0.58 £3.49" in text and "Charged to Visa •4242 £3.49" in text
