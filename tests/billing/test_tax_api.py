"""Tax through the API (issue 14 item 1): the billing address and VAT number, and the net,
tax and gross of every invoice and credit-note line, in GB, DE, AU (inclusive), US-CA and
CA-ON (exclusive), for an EU reverse charge, a prorated C2 downgrade and a C1 refund. The
quote (C5) shows the tax of what it issues."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.accounts import export
from kasacare.billing.models import BillingAddress
from kasacare.billing.tax import REVERSE_CHARGE_MENTION
from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import PASSWORD, card_on_file, owner, register_camera, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)  # April has 30 days: 10 days in, 20/30 unused
EMAIL = "owner@example.com"

ADDRESSES: dict[str, dict[str, Any]] = {
    "GB": {"city": "London", "postal_code": "SW1A 1AA", "country": "GB"},
    "DE": {"city": "Berlin", "postal_code": "10115", "country": "DE"},
    "AU": {"city": "Sydney", "region": "NSW", "postal_code": "2000", "country": "AU"},
    "US-CA": {"city": "San Jose", "region": "CA", "postal_code": "95131", "country": "US"},
    "US-OR": {"city": "Portland", "region": "OR", "postal_code": "97201", "country": "US"},
    "CA-ON": {"city": "Toronto", "region": "ON", "postal_code": "M5V 2T6", "country": "CA"},
}


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def put_address(
    client: TestClient, headers: dict[str, str], where: str, **extra: Any
) -> dict[str, Any]:
    body = {"name": "Ada Owner", "line1": "1 Main Street", **ADDRESSES[where], **extra}
    response = client.put("/v1/me/billing-address", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def customer(
    client: TestClient, country: str, where: str | None = None, **extra: Any
) -> tuple[dict[str, str], str]:
    """An owner of `country` with a card, a camera and (if `where`) a billing address."""
    _, headers = owner(client, EMAIL, country=country)
    card_on_file(client, headers)
    if where is not None:
        put_address(client, headers, where, **extra)
    return headers, register_camera(client, headers)["id"]


def buy(
    client: TestClient,
    headers: dict[str, str],
    cameras: list[str],
    plan: str = "plus",
    cycle: str = "monthly",
) -> dict[str, Any]:
    body = {"plan": plan, "cycle": cycle, "camera_ids": cameras}
    preview = client.post(
        "/v1/subscription/preview", json={"action": "create", **body}, headers=headers
    )
    response = client.post("/v1/subscription", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    assert preview.json() == result["last_change"]  # C5: one computation
    return result


def only_invoice(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    assert len(invoices) == 1
    invoice: dict[str, Any] = invoices[0]
    return invoice


def line_amounts(document: dict[str, Any]) -> list[tuple[int, int, int, str | None]]:
    """(net, tax, gross, rate) of each line; every line's net + tax is its gross."""
    rows = []
    for line in document["lines"]:
        net, tax, gross = (line[name]["amount"] for name in ("net", "tax", "amount"))
        assert net + tax == gross
        rows.append((net, tax, gross, line["tax_rate"]))
    return rows


def assert_sums(document: dict[str, Any]) -> None:
    """The document's totals are the sums of its lines (M6)."""
    rows = line_amounts(document)
    assert document["net_total"]["amount"] == sum(row[0] for row in rows)
    assert document["tax_total"]["amount"] == sum(row[1] for row in rows)
    assert document["total"]["amount"] == sum(row[2] for row in rows)


# ---- the billing address ------------------------------------------------------------------


def test_issue14_billing_address_is_set_read_and_checked(client: TestClient) -> None:
    _, headers = owner(client, EMAIL, country="US")
    assert client.get("/v1/me/billing-address", headers=headers).status_code == 404
    for body, field in [
        ({**ADDRESSES["GB"]}, "country"),  # not sold in the account's currency (USD)
        ({**ADDRESSES["US-CA"], "region": None}, "region"),  # the state picks the rate
        ({**ADDRESSES["US-CA"], "region": "ZZ"}, "region"),
        ({**ADDRESSES["US-CA"], "vat_number": "DE123456789"}, "vat_number"),
    ]:
        response = client.put(
            "/v1/me/billing-address",
            json={"name": "Ada Owner", "line1": "1 Main Street", **body},
            headers=headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"
        assert response.json()["field"] == field
    saved = put_address(client, headers, "US-CA", region="ca")
    assert saved["region"] == "CA"
    assert saved["tax"] == {
        "name": "sales tax",
        "rate": "7.25",
        "inclusive": False,
        "jurisdiction": "US-CA",
        "reverse_charge": False,
        "mention": None,
    }
    assert client.get("/v1/me/billing-address", headers=headers).json() == saved


def test_issue14_a_malformed_vat_number_is_refused(client: TestClient) -> None:
    _, headers = owner(client, EMAIL, country="DE")
    response = client.put(
        "/v1/me/billing-address",
        json={"name": "Ada GmbH", "line1": "Hauptstr. 1", **ADDRESSES["DE"], "vat_number": "DE1"},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["field"] == "vat_number"


# ---- invoices by country ------------------------------------------------------------------


def test_issue14_gb_invoice_includes_vat(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "GB", "GB")
    bought = buy(client, headers, [camera])
    # Plus monthly £3.49, VAT included: 349 / 1.2 = 290.83 -> net 291, VAT 58
    assert bought["last_change"]["charge_now"] == money(349, "GBP")
    assert bought["last_change"]["tax_charged"] == money(58, "GBP")
    assert bought["last_change"]["tax"]["name"] == "VAT"
    invoice = only_invoice(client, headers)
    assert line_amounts(invoice) == [(291, 58, 349, "20")]
    assert_sums(invoice)
    assert (invoice["charged"], invoice["tax"]["rate"]) == (money(349, "GBP"), "20")


def test_issue14_gb_without_an_address_pays_gb_vat(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "GB")
    buy(client, headers, [camera])
    # the account's country decides until an address is given: 349 -> 291 + 58
    assert line_amounts(only_invoice(client, headers)) == [(291, 58, 349, "20")]


def test_issue14_de_invoice_includes_vat(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "DE", "DE")
    buy(client, headers, [camera], plan="premium")
    # Premium monthly €10.99 at 19%: 1099 / 1.19 = 923.53 -> net 924, VAT 175
    invoice = only_invoice(client, headers)
    assert line_amounts(invoice) == [(924, 175, 1099, "19")]
    assert invoice["tax"]["jurisdiction"] == "DE"
    assert_sums(invoice)


def test_issue14_au_invoice_includes_gst(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "AU", "AU")
    buy(client, headers, [camera])
    # Plus monthly A$5.49 at 10%: 549 / 1.1 = 499.09 -> net 499, GST 50
    invoice = only_invoice(client, headers)
    assert line_amounts(invoice) == [(499, 50, 549, "10")]
    assert invoice["tax"]["name"] == "GST"


def test_issue14_us_ca_sales_tax_is_added(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "US", "US-CA")
    bought = buy(client, headers, [camera])
    # $3.99 net + 7.25%: 399 x 0.0725 = 28.93 -> 29; charged 428
    assert bought["last_change"]["charge_now"] == money(428, "USD")
    assert bought["last_change"]["tax_charged"] == money(29, "USD")
    assert bought["next_invoice"]["amount"] == money(428, "USD")
    invoice = only_invoice(client, headers)
    assert line_amounts(invoice) == [(399, 29, 428, "7.25")]
    assert (invoice["total"], invoice["charged"]) == (money(428, "USD"), money(428, "USD"))


def test_issue14_ca_on_hst_is_added(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "CA", "CA-ON")
    buy(client, headers, [camera])
    # C$4.99 net + 13% HST: 499 x 0.13 = 64.87 -> 65; charged 564
    invoice = only_invoice(client, headers)
    assert line_amounts(invoice) == [(499, 65, 564, "13")]
    assert (invoice["tax"]["name"], invoice["tax"]["jurisdiction"]) == ("GST/HST", "CA-ON")


def test_issue14_eu_b2b_reverse_charge(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    # The test catalog's seller is established in IE: a DE VAT number is reverse charged.
    headers, camera = customer(client, "DE", "DE", vat_number="DE 123 456 789")
    address = client.get("/v1/me/billing-address", headers=headers).json()
    assert address["vat_number"] == "DE123456789"
    assert (address["tax"]["rate"], address["tax"]["reverse_charge"]) == ("0", True)
    bought = buy(client, headers, [camera])
    # €3.99 includes 19% German VAT: the business pays 399 / 1.19 = 335.29 -> 335, VAT 0
    assert bought["last_change"]["charge_now"] == money(335, "EUR")
    assert bought["last_change"]["tax_charged"] == money(0, "EUR")
    invoice = only_invoice(client, headers)
    assert line_amounts(invoice) == [(335, 0, 335, "0")]
    assert invoice["tax"]["reverse_charge"] is True
    assert invoice["tax"]["mention"] == REVERSE_CHARGE_MENTION


# ---- changes and refunds ----------------------------------------------------------------


def test_c2_issue14_prorated_downgrade_credits_net_and_tax(
    client: TestClient, clock: FixedClock
) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "GB", "GB")
    buy(client, headers, [camera], plan="premium")  # 999, VAT included
    clock.advance(timedelta(days=10))
    headers = token_for(client, EMAIL)
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": [camera]}
    preview = client.post(
        "/v1/subscription/preview", json={"action": "change", **body}, headers=headers
    ).json()
    changed = client.post("/v1/subscription/change", json=body, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["last_change"] == preview
    # C2, 20/30 of April unused:
    #   credit  Premium 999 x 20/30 = 666;     666 / 1.2 = 555 net, VAT 111
    #   charge  Plus    349 x 20/30 = 232.67 -> 233; 233 / 1.2 = 194.17 -> 194, VAT 39
    #   net -433: one credit note of 433 (lines as credited), VAT 111 - 39 = 72
    assert preview["credit_added"] == money(433, "GBP")
    assert (preview["tax_credited"], preview["tax_charged"]) == (
        money(72, "GBP"),
        money(0, "GBP"),
    )
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert len(notes) == 1
    note = notes[0]
    assert (note["kind"], note["total"]) == ("credit", money(433, "GBP"))
    assert line_amounts(note) == [(555, 111, 666, "20"), (-194, -39, -233, "20")]
    assert (note["net_total"], note["tax_total"]) == (money(361, "GBP"), money(72, "GBP"))
    assert_sums(note)
    # the first invoice: 999 / 1.2 = 832.5 -> 832 (half-even), VAT 167 >= 72 credited
    assert line_amounts(only_invoice(client, headers)) == [(832, 167, 999, "20")]


def test_c1_issue14_us_ca_refund_splits_the_prorated_gross(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "US", "US-CA")
    buy(client, headers, [camera])  # 428 charged: 399 + 29
    # M7 renewal on May 1 at the catalog price plus tax: 428 again, 399 + 29
    run_due(context, datetime(2026, 5, 1, tzinfo=UTC))
    renewal = client.get("/v1/invoices", headers=headers).json()["items"][0]
    assert line_amounts(renewal) == [(399, 29, 428, "7.25")]
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    clock.advance(timedelta(days=10))
    headers = token_for(client, EMAIL)
    cancelled = client.delete("/v1/subscription", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # C1, 21 of May's 31 days unused: the gross is prorated: 428 x 21/31 = 289.94 -> 290
    # refunded; 290 / 1.0725 = 270.40 -> net 270, tax 20 (never more than the 29 charged)
    assert cancelled.json()["refund_now"] == money(290, "USD")
    assert cancelled.json()["tax_credited"] == money(20, "USD")
    (note,) = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert (note["kind"], note["total"]) == ("refund", money(290, "USD"))
    assert line_amounts(note) == [(270, 20, 290, "7.25")]


def test_c2_issue14_a_new_address_is_taxed_from_the_next_period(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    headers, camera = customer(client, "US", "US-CA")
    buy(client, headers, [camera])  # 428 at 7.25%
    clock.advance(timedelta(days=10))
    headers = token_for(client, EMAIL)
    put_address(client, headers, "US-OR")  # Oregon: no sales tax
    second = register_camera(client, headers)["id"]
    added = client.post("/v1/subscription/cameras", json={"camera_id": second}, headers=headers)
    assert added.status_code == 200, added.text
    # The period was invoiced at 7.25%: a seat is 428 for the period, 2 seats 856.
    #   credit 428 x 20/30 = 285.33 -> 285: 285 / 1.0725 = 265.73 -> 266, tax 19
    #   charge 856 x 20/30 = 570.67 -> 571: 571 / 1.0725 = 532.40 -> 532, tax 39
    # and the next period is invoiced in Oregon: 2 x 399, no tax.
    assert added.json()["last_change"]["charge_now"] == money(286, "USD")
    assert added.json()["next_invoice"]["amount"] == money(798, "USD")
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    assert line_amounts(invoices[0]) == [(-266, -19, -285, "7.25"), (532, 39, 571, "7.25")]
    assert_sums(invoices[0])
    run_due(context, datetime(2026, 5, 1, tzinfo=UTC))
    renewal = client.get("/v1/invoices", headers=headers).json()["items"][0]
    assert line_amounts(renewal) == [(798, 0, 798, "0")]
    assert renewal["tax"]["jurisdiction"] == "US-OR"


def test_issue14_gdpr_the_billing_address_goes_with_the_account(
    client: TestClient, context: AppContext
) -> None:
    """GDPR Art. 17 (issue 13 item 2): the address is personal data; the invoices stay."""
    account, headers = owner(client, EMAIL, country="US")
    put_address(client, headers, "US-CA")
    done = client.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=headers)
    assert done.status_code == 200, done.text
    with context.sessions() as session:
        assert session.get(BillingAddress, uuid.UUID(account["id"])) is None


def test_issue14_gdpr_the_export_holds_the_billing_address(
    client: TestClient, context: AppContext
) -> None:
    """GDPR Art. 20 (issue 13 item 3): the account's billing address is in its export."""
    account, headers = owner(client, EMAIL, country="US")
    put_address(client, headers, "US-CA")
    with context.sessions() as session:
        files = dict(export.documents(session, uuid.UUID(account["id"])))
    saved = files["billing_address.json"]
    assert isinstance(saved, dict)
    assert (saved["city"], saved["region"], saved["country"]) == ("San Jose", "CA", "US")
