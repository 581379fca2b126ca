"""Receipts and clear notifications (issue 14 item 3): a mail with the document's PDF after
every charge (the trial's first charge and renewals included) and every refund, to verified
addresses only, against a real SMTP server (aiosmtpd, as in test_mail.py); every notice names
its camera, plan, amount and dates in the account's time zone and links to its document;
unread state in the API and the app."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from kasacare.notifications.mail import deliver_pending
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for
from tests.mailbox import verify
from tests.notifications.test_mail import SmtpServer

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
MAY_10 = datetime(2026, 5, 10, tzinfo=UTC)
OWNER = "receipts@example.com"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def _deliver(context: AppContext, smtp: SmtpServer, now: datetime) -> int:
    return deliver_pending(
        context.sessions, smtp.sender, now, catalog=context.catalog, settings=context.settings
    )


def _named(client: TestClient, headers: dict[str, str], name: str, model: str = "KC120") -> str:
    camera = register_camera(client, headers, model)
    renamed = client.patch(f"/v1/cameras/{camera['id']}", json={"name": name}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    return str(camera["id"])


def _mail(smtp: SmtpServer, subject: str) -> EmailMessage:
    (found,) = [m for _, m in smtp.inbox.received if str(m["Subject"]) == subject]
    return found


def _pdf_text(message: EmailMessage) -> tuple[str, str]:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    filename = part.get_filename()
    assert filename is not None
    data = part.get_content()
    assert isinstance(data, bytes) and data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return filename, "\n".join(page.extract_text() for page in reader.pages)


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _items(client: TestClient, email: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(
        "/v1/notifications", headers=token_for(client, email)
    ).json()["items"]
    return items


def test_issue14_item3_the_first_charge_after_a_trial_and_the_refund_mail_their_pdfs(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client, OWNER)
    verify(client, context, OWNER)
    card_on_file(client, headers)
    subscribe(client, headers, [_named(client, headers, "Porch")], trial=True)
    run_due(context, MAY_10)  # the trial ends 1 May: the first charge, $3.99
    clock.set(MAY_10)
    assert client.delete("/v1/subscription", headers=token_for(client, OWNER)).status_code == 200
    invoice = client.get("/v1/invoices", headers=token_for(client, OWNER)).json()["items"][0]
    note = client.get("/v1/credit-notes", headers=token_for(client, OWNER)).json()["items"][0]

    assert _deliver(context, smtp, MAY_10) == 5
    receipt = _mail(smtp, "Your Kasa Care receipt for $3.99")
    body = _body(receipt)
    # Plan, cycle, camera, amount, the date and how it was paid, and the invoice's page.
    assert "we received $3.99 for Kasa Care Plus (monthly) for Porch on 1 May 2026" in body
    assert f"(invoice {invoice['number']}, covering until 1 June 2026)" in body
    assert "Charged to Visa •4242 $3.99." in body
    assert f"Invoice {invoice['number']}: http://localhost:8000/app/billing/invoices/" in body
    filename, text = _pdf_text(receipt)
    assert filename == f"{invoice['number']}.pdf"
    assert invoice["number"] in text and "$3.99" in text

    # Cancelled 10 May, 22 of 31 days unused: 399 x 22/31 = 283.16 -> 283.
    refund = _mail(smtp, "Your Kasa Care refund of $2.83")
    assert f"Credit note {note['number']}: http://localhost:8000/app/billing/credit-notes/" in (
        _body(refund)
    )
    filename, text = _pdf_text(refund)
    assert filename == f"{note['number']}.pdf"
    assert note["number"] in text and "$2.83" in text
    # Mails that tell of no document carry none.
    trial = _mail(smtp, "Your Kasa Care trial ends on 1 May 2026")
    assert list(trial.iter_attachments()) == []


def test_issue14_item3_a_renewal_has_its_receipt_and_an_unverified_owner_gets_no_mail(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client, OWNER)
    verify(client, context, OWNER)
    card_on_file(client, headers)
    subscribe(client, headers, [_named(client, headers, "Porch")])
    _, other = owner(client, "unverified@example.com")
    card_on_file(client, other)
    subscribe(client, other, [register_camera(client, other)["id"]])
    run_due(context, datetime(2026, 5, 1, 1, tzinfo=UTC))  # both renew on 1 May

    receipts = [n for n in _items(client, OWNER) if n["kind"] == "payment_received"]
    assert [n["created_at"] for n in receipts] == ["2026-05-01T00:00:00Z", "2026-04-01T00:00:00Z"]
    numbers = [n["number"] for n in client.get("/v1/invoices", headers=headers).json()["items"]]
    assert sorted(n["data"]["number"] for n in receipts) == sorted(numbers)
    unverified = [n["kind"] for n in _items(client, "unverified@example.com")]
    assert unverified.count("payment_received") == 2  # listed in the app all the same

    assert _deliver(context, smtp, datetime(2026, 5, 2, tzinfo=UTC)) == 2  # the verified only
    assert {tuple(to) for to, _ in smtp.inbox.received} == {(OWNER,)}
    renewal = next(n for n in receipts if n["created_at"] == "2026-05-01T00:00:00Z")
    mails = [m for _, m in smtp.inbox.received if renewal["data"]["number"] in _body(m)]
    (message,) = mails
    _, text = _pdf_text(message)
    assert renewal["data"]["number"] in text and "$3.99" in text
    assert "covering until 1 June 2026" in _body(message)


def test_issue14_item3_dates_in_the_accounts_time_zone_and_names_not_ids(
    client: TestClient, clock: FixedClock, context: AppContext, smtp: SmtpServer
) -> None:
    """A New York account reads its trial's end at 20:00 EDT the day before (00:00Z), the
    first charge it announces, and which camera lost history and why a plan ended."""
    clock.set(APRIL_1)
    _, headers = owner(client, OWNER)
    assert (
        client.patch("/v1/me", json={"time_zone": "America/New_York"}, headers=headers)
    ).status_code == 200
    verify(client, context, OWNER)
    card_on_file(client, headers)
    porch, hall = _named(client, headers, "Porch"), _named(client, headers, "Hall")
    subscribe(client, headers, [porch, hall], trial=True)
    run_due(context, datetime(2026, 4, 29, tzinfo=UTC))  # trial_ending on 28 Apr 00:00Z
    assert _deliver(context, smtp, datetime(2026, 4, 29, tzinfo=UTC)) == 1
    clock.set(datetime(2026, 4, 29, tzinfo=UTC))
    assert client.delete("/v1/subscription", headers=token_for(client, OWNER)).status_code == 200
    assert _deliver(context, smtp, datetime(2026, 4, 29, tzinfo=UTC)) == 2

    trial = _body(_mail(smtp, "Your Kasa Care trial ends on 30 April 2026"))
    assert (
        "Your free trial of Kasa Care Plus (monthly) for Hall and Porch ends on "
        "30 April 2026 at 20:00 EDT." in trial
    )
    # Two Plus seats at $3.99: the first charge 2 x 399 = 798.
    assert "The first payment, $7.98, is taken from your card on file on 30 April 2026" in trial
    ended = _body(_mail(smtp, "Your Kasa Care Plus subscription has ended"))
    assert "As you asked, your Kasa Care Plus for Hall and Porch subscription was" in ended
    assert "cancelled on 28 April 2026." in ended  # 29 Apr 00:00Z is 28 Apr 20:00 EDT
    erased = _mail(smtp, "Video history of Hall and Porch was erased")
    assert "- Porch: video recorded before 26 April 2026 at 20:00 EDT" in _body(erased)


def test_issue14_item3_unread_state_in_the_api(client: TestClient, clock: FixedClock) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client, OWNER)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    subscribe(client, headers, [camera])
    assert client.delete("/v1/subscription", headers=headers).status_code == 200
    listed = client.get("/v1/notifications", headers=headers).json()
    assert listed["unread"] == len(listed["items"]) >= 3
    assert all(item["read"] is False for item in listed["items"])

    first = listed["items"][0]["id"]
    _, stranger = owner(client, "stranger@example.com")
    theirs = client.post("/v1/notifications/read", json={"ids": [first]}, headers=stranger)
    assert theirs.json() == {"marked": 0, "unread": 0}  # another account's: nothing changes
    one = client.post("/v1/notifications/read", json={"ids": [first]}, headers=headers)
    assert one.status_code == 200
    assert one.json() == {"marked": 1, "unread": listed["unread"] - 1}
    again = client.get("/v1/notifications", headers=headers).json()
    assert [i["read"] for i in again["items"] if i["id"] == first] == [True]

    everything = client.post("/v1/notifications/read", headers=headers)
    assert everything.json() == {"marked": listed["unread"] - 1, "unread": 0}
    assert all(i["read"] for i in client.get("/v1/notifications", headers=headers).json()["items"])


def test_issue14_item3_a_failed_payment_names_its_invoice_retry_and_end(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client, OWNER)
    card_on_file(client, headers, "4000000000000341")  # attaches, then declines
    subscribe(client, headers, [_named(client, headers, "Porch")], trial=True)
    run_due(context, datetime(2026, 5, 1, 1, tzinfo=UTC))
    (failed,) = [n for n in _items(client, OWNER) if n["kind"] == "payment_failed"]
    invoice = client.get("/v1/invoices", headers=headers).json()["items"][0]
    # First failure 1 May; retries 1, 3, 5 and 7 days later: the plan ends 8 May if all fail.
    assert failed["data"]["invoice_id"] == invoice["id"]
    assert failed["data"]["next_retry_at"] == "2026-05-02T00:00:00Z"
    assert failed["data"]["ends_at"] == "2026-05-08T00:00:00Z"
