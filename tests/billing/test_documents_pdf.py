"""Invoices and credit notes as legal documents (issue 14 item 2): the PDFs read back with
pypdf name the seller (configuration), the customer (as billed), every line with its net,
tax and amount, the totals, how it was paid (credit apart from the card) and, for a credit
note, the invoice it corrects."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from kasacare.app import create_app
from kasacare.billing.documents import DocumentLine, DocumentView, Seller
from kasacare.billing.pdf import render_pdf
from kasacare.billing.tax import REVERSE_CHARGE_MENTION, TaxTreatment
from kasacare.config import ConfigurationError, load_settings
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.kit.money import Money
from tests.factories import card_on_file, owner, register_camera, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
EMAIL = "owner@example.com"
SELLER = {
    "seller_name": "Kasa Care Europe Ltd",
    "seller_address": "1 Harbour Square; Dublin D02 X285; Ireland",
    "seller_tax_id": "IE9876543W",
}


@pytest.fixture
def documents(context: AppContext) -> Iterator[TestClient]:
    """The app with the seller configured (KASACARE_SELLER_*)."""
    settings = context.settings.model_copy(update=SELLER)
    configured = dataclasses.replace(context, settings=settings)
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        yield client


def pdf_text(client: TestClient, path: str, headers: dict[str, str]) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def address(client: TestClient, headers: dict[str, str], **fields: Any) -> None:
    response = client.put("/v1/me/billing-address", json=fields, headers=headers)
    assert response.status_code == 200, response.text


def test_issue14_invoice_pdf_names_seller_customer_lines_totals_and_payment(
    documents: TestClient, clock: FixedClock
) -> None:
    client = documents
    clock.set(APRIL_1)
    _, headers = owner(client, EMAIL, country="GB")
    card_on_file(client, headers)
    address(
        client,
        headers,
        name="Ada Lovelace Ltd",
        line1="12 St James's Square",
        city="London",
        postal_code="SW1Y 4JH",
        country="GB",
        vat_number="GB123456789",
    )
    camera = register_camera(client, headers)["id"]
    body = {"plan": "premium", "cycle": "monthly", "camera_ids": [camera]}
    assert client.post("/v1/subscription", json=body, headers=headers).status_code == 201
    clock.advance(timedelta(days=10))
    headers = token_for(client, EMAIL)
    # C2 downgrade, 20/30 of April unused: credit 999 x 20/30 = 666, charge 349 x 20/30 =
    # 232.67 -> 233: a credit note of 433 goes to the balance.
    down = {"plan": "plus", "cycle": "monthly", "camera_ids": [camera]}
    assert client.post("/v1/subscription/change", json=down, headers=headers).status_code == 200
    # P5 to annual: the unused Plus time, 349 x 20/30 = 232.67 -> 233, is refunded to the
    # card; the new annual 3499 is paid from the 433 credit first, then 3499 - 433 = 3066
    # from the card.
    annual = {"plan": "plus", "cycle": "annual", "camera_ids": [camera]}
    changed = client.post("/v1/subscription/change", json=annual, headers=headers)
    assert changed.status_code == 200, changed.text
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    newest = invoices[0]
    assert (newest["credit_used"]["amount"], newest["charged"]["amount"]) == (433, 3066)
    assert newest["card"] == {"brand": "visa", "last4": "4242"}
    assert newest["customer"]["vat_number"] == "GB123456789"
    text = pdf_text(client, f"/v1/invoices/{newest['id']}.pdf", headers)
    # the seller, from the configuration
    for part in ("Kasa Care Europe Ltd", "1 Harbour Square", "Dublin D02 X285", "IE9876543W"):
        assert part in text
    # the customer, as billed
    for part in ("Ada Lovelace Ltd", "12 St James's Square", "SW1Y 4JH London", "GB123456789"):
        assert part in text
    # the one line: 3499 / 1.2 = 2915.83 -> net £29.16, VAT £5.83
    assert f"Invoice {newest['number']}" in text
    assert "Kasa Care Plus x 1 camera, annual" in text
    assert "£29.16 20% £5.83 £34.99" in text
    assert "Net £29.16" in text and "VAT 20% £5.83" in text and "Total £34.99" in text
    # the credit apart from the card (issue 14: "Paid from credit £2.96, charged to ...")
    assert "Paid from credit £4.33, charged to Visa •4242 £30.66" in text


def test_issue14_credit_note_pdf_references_the_invoice_it_corrects(
    documents: TestClient, clock: FixedClock
) -> None:
    client = documents
    clock.set(APRIL_1)
    _, headers = owner(client, EMAIL, country="GB")
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": [camera]}
    assert client.post("/v1/subscription", json=body, headers=headers).status_code == 201
    clock.advance(timedelta(days=10))
    headers = token_for(client, EMAIL)
    assert client.delete("/v1/subscription", headers=headers).status_code == 200
    (invoice,) = client.get("/v1/invoices", headers=headers).json()["items"]
    (listed,) = client.get("/v1/credit-notes", headers=headers).json()["items"]
    note = client.get(f"/v1/credit-notes/{listed['id']}", headers=headers).json()
    assert note == listed
    assert note["invoice_id"] == invoice["id"]
    text = pdf_text(client, f"/v1/credit-notes/{note['id']}.pdf", headers)
    assert f"Credit note {note['number']}" in text
    assert f"Corrects invoice {invoice['number']}" in text
    assert "Kasa Care Europe Ltd" in text and "IE9876543W" in text
    # no billing address given: the customer is the account's email and country
    assert EMAIL in text
    # C1: 349 x 20/30 = 232.67 -> 233 refunded; 233 / 1.2 = 194.17 -> net £1.94, VAT £0.39
    assert "Unused time on Kasa Care Plus x 1 camera" in text
    assert "£1.94 20% £0.39 £2.33" in text
    assert "Total £2.33" in text
    assert "Refunded to Visa •4242 £2.33" in text


def test_issue14_reverse_charged_invoice_pdf_carries_the_mention(
    documents: TestClient, clock: FixedClock
) -> None:
    client = documents
    clock.set(APRIL_1)
    _, headers = owner(client, EMAIL, country="DE")
    card_on_file(client, headers)
    address(
        client,
        headers,
        name="Beispiel GmbH",
        line1="Hauptstrasse 1",
        city="Berlin",
        postal_code="10115",
        country="DE",
        vat_number="DE123456789",
    )
    camera = register_camera(client, headers)["id"]
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": [camera]}
    assert client.post("/v1/subscription", json=body, headers=headers).status_code == 201
    (invoice,) = client.get("/v1/invoices", headers=headers).json()["items"]
    text = pdf_text(client, f"/v1/invoices/{invoice['id']}.pdf", headers)
    # 399 / 1.19 = 335.29 -> €3.35, no VAT
    assert "€3.35 0% €0.00 €3.35" in text
    assert "VAT 0% (reverse charge) €0.00" in text
    assert "Beispiel GmbH" in text and "DE123456789" in text
    assert " ".join(REVERSE_CHARGE_MENTION.split()) in " ".join(text.split())
    assert "Charged to Visa •4242 €3.35" in text


def test_issue14_another_accounts_documents_answer_404(
    documents: TestClient, clock: FixedClock
) -> None:
    client = documents
    clock.set(APRIL_1)
    _, headers = owner(client, EMAIL, country="GB")
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": [camera]}
    assert client.post("/v1/subscription", json=body, headers=headers).status_code == 201
    assert client.delete("/v1/subscription", headers=headers).status_code == 200
    (invoice,) = client.get("/v1/invoices", headers=headers).json()["items"]
    (note,) = client.get("/v1/credit-notes", headers=headers).json()["items"]
    _, other = owner(client, "other@example.com", country="GB")
    for path in (
        f"/v1/invoices/{invoice['id']}.pdf",
        f"/v1/credit-notes/{note['id']}",
        f"/v1/credit-notes/{note['id']}.pdf",
    ):
        response = client.get(path, headers=other)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


def test_issue14_seller_settings_are_read_and_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """KASACARE_SELLER_*: one line each (address lines split at ;); a font path must exist."""
    monkeypatch.setenv("KASACARE_SELLER_NAME", "Kasa Care Europe Ltd")
    monkeypatch.setenv("KASACARE_SELLER_ADDRESS", " 1 Harbour Square ;Dublin D02 X285;; Ireland")
    monkeypatch.setenv("KASACARE_SELLER_TAX_ID", "IE9876543W")
    seller = Seller.of(load_settings())
    assert seller == Seller(
        "Kasa Care Europe Ltd", ("1 Harbour Square", "Dublin D02 X285", "Ireland"), "IE9876543W"
    )
    monkeypatch.setenv("KASACARE_SELLER_NAME", "Kasa\nCare")
    with pytest.raises(ConfigurationError, match="KASACARE_SELLER_NAME"):
        load_settings()
    monkeypatch.setenv("KASACARE_SELLER_NAME", "Kasa Care")
    monkeypatch.setenv("KASACARE_PDF_FONT_PATH", str(tmp_path / "missing.ttf"))
    with pytest.raises(ConfigurationError, match="KASACARE_PDF_FONT_PATH"):
        load_settings()


DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def test_issue14_a_truetype_font_shows_names_in_any_script() -> None:
    """Without a TrueType font a Greek name turns into "?"; with one it reads back whole."""
    euros = [Money(amount, "EUR") for amount in (322, 77, 399)]
    view = DocumentView(
        title="Invoice",
        number="INV-000007",
        issued=APRIL_1,
        state="paid",
        seller=Seller("Kasa Care Europe Ltd", ("Dublin",), "IE9876543W"),
        customer=("Αθηνά Παπαδοπούλου", "Ερμού 1", "10563 Αθήνα", "GR"),
        customer_vat=None,
        lines=(
            DocumentLine(
                "Kasa Care Plus x 1 camera, monthly", None, euros[0], "24", euros[1], euros[2]
            ),
        ),
        net_total=euros[0],
        tax_total=euros[1],
        total=euros[2],
        tax=TaxTreatment("VAT", "24", True, "GR", "24"),
        payment="Charged to Visa •4242 €3.99",
        corrects=None,
    )
    core = PdfReader(io.BytesIO(render_pdf(view))).pages[0].extract_text()
    assert "Αθηνά" not in core and "?????" in core
    # 399 / 1.24 = 321.77 -> net €3.22, VAT 399 - 322 = €0.77
    assert "€3.22 24% €0.77 €3.99" in core
    if not DEJAVU.is_file():
        pytest.skip("no DejaVu font on this machine")
    text = PdfReader(io.BytesIO(render_pdf(view, DEJAVU))).pages[0].extract_text()
    assert "Αθηνά Παπαδοπούλου" in text and "10563 Αθήνα" in text
    assert "€3.22 24% €0.77 €3.99" in text
