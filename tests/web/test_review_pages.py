"""Pages that say what is bought (issue 14 item 4), in-process, a GB account (Plus £3.49 a
month a camera, VAT 20% included): the review names plan, cycle, cameras, trial end, the
first charge and the card; refusals go back (post/redirect/get) with the choices kept and a
link to the fix; the notice says what happened; the past_due banner and its recovery."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import PASSWORD
from tests.web.conftest import csrf
from tests.web.test_pages import sign_up

JAN_5 = datetime(2027, 1, 5, 10, tzinfo=UTC)


def _camera(browser: TestClient, name: str, serial: str) -> str:
    page = browser.get("/app/cameras")
    browser.post(
        "/app/cameras",
        data={"model": "KC120", "serial": serial, "name": name, "csrf_token": csrf(page.text)},
    )
    care = browser.get("/app/kasa-care").text
    found = re.search(rf'value="([^"]+)"[^>]*> {name} · Kasa Cam \(KC120\)', care)
    assert found, care
    return found.group(1)


def _card(browser: TestClient, number: str = "4242424242424242") -> str:
    """Put a card on file through the Billing page; answers where the page sent us."""
    token = browser.post(
        "/v1/sandbox/tokens",
        json={"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    ).json()["token"]
    billing = browser.get("/app/billing")
    saved = browser.post(
        "/app/billing/card",
        data={"token": token, "csrf_token": csrf(billing.text)},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    return str(saved.headers["location"])


def _form(cameras: list[str], trial: bool) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "action": "create",
        "plan": "plus",
        "cycle": "monthly",
        "camera_ids": cameras,
    }
    if trial:
        form["trial"] = "1"
    return form


def test_issue14_item4_a_trial_review_names_what_is_bought_and_the_first_charge(
    browser: TestClient, clock: FixedClock
) -> None:
    clock.set(JAN_5)
    sign_up(browser)
    ids = [_camera(browser, "Porch", "WEBR0001"), _camera(browser, "Hall", "WEBR0002")]
    _card(browser)
    care = browser.get("/app/kasa-care").text
    review = browser.post(
        "/app/kasa-care/review", data={**_form(ids, True), "csrf_token": csrf(care)}
    ).text
    assert '<dd data-bought="plan">Kasa Care Plus, billed monthly</dd>' in review
    cameras = "Hall · Kasa Cam (KC120), Porch · Kasa Cam (KC120)"  # by name, with the model
    assert f'<dd data-bought="cameras">{cameras}</dd>' in review
    # 30 days from 5 Jan 2027 10:00Z: 4 Feb 2027.
    assert '<dd data-bought="trial">until 4 Feb 2027</dd>' in review
    assert '<dd data-bought="card">Visa •4242</dd>' in review
    # Two Plus seats at £3.49: 2 x 349 = 698.
    assert "<strong>£6.98 on 4 Feb 2027 unless you cancel.</strong>" in review
    assert "The trial needs a card on file; nothing is charged now." in review
    assert "renews by itself every month until you cancel" in review
    assert 'data-quote="refund"' not in review and 'data-quote="credit"' not in review
    assert "Credit used" not in review  # no rows of £0.00 beyond the charge itself
    back = re.search(r'<a href="([^"]+)#choose">Back</a>', review)
    assert back
    again = browser.get(back.group(1).replace("&amp;", "&")).text  # Back keeps the choices
    for camera_id in ids:
        assert f'value="{camera_id}" checked' in again
    assert 'name="trial" value="1" checked' in again

    applied = browser.post(
        "/app/kasa-care/apply",
        data={**_form(ids, True), "csrf_token": csrf(review)},
        follow_redirects=False,
    )
    assert applied.headers["location"] == "/app/kasa-care?notice=trial_started"
    assert "Your free trial has started" in browser.get(applied.headers["location"]).text


def test_issue14_item4_a_review_lists_its_lines_with_tax_and_the_card_charged(
    browser: TestClient, clock: FixedClock
) -> None:
    clock.set(JAN_5)
    sign_up(browser)
    ids = [_camera(browser, "Porch", "WEBR0011")]
    _card(browser)
    care = browser.get("/app/kasa-care").text
    review = browser.post(
        "/app/kasa-care/review", data={**_form(ids, False), "csrf_token": csrf(care)}
    ).text
    line = re.search(r"<tr data-line>(.*?)</tr>", review)
    assert line
    # £3.49 includes VAT: 349 / 1.2 = 290.83 -> net £2.91, VAT £0.58.
    assert re.findall(r'<td class="num">([^<]*)</td>', line.group(1)) == [
        "£2.91",
        "£0.58 (VAT 20%)",
        "£3.49",
    ]
    assert "<dt>Charged now to Visa •4242</dt>" in review


def test_issue14_item4_no_card_goes_back_with_the_choices_and_a_link_to_billing(
    browser: TestClient,
) -> None:
    sign_up(browser)
    ids = [_camera(browser, "Porch", "WEBR0021")]
    care = browser.get("/app/kasa-care").text
    refused = browser.post(
        "/app/kasa-care/review",
        data={**_form(ids, True), "cycle": "annual", "csrf_token": csrf(care)},
        follow_redirects=False,
    )
    assert refused.status_code == 303  # post/redirect/get: a refresh resubmits nothing
    location = refused.headers["location"]
    assert location.startswith("/app/kasa-care?") and "problem=payment_method_required" in location
    page = browser.get(location).text
    assert '<a href="/app/billing#card">Add a card on the Billing page</a>' in page
    assert f'value="{ids[0]}" checked' in page
    assert 'name="cycle" value="annual" checked' in page
    assert 'name="trial" value="1" checked' in page


def test_issue14_item4_a_declined_card_keeps_the_choices(browser: TestClient) -> None:
    sign_up(browser)
    ids = [_camera(browser, "Porch", "WEBR0031")]
    _card(browser, "4000000000000002")
    care = browser.get("/app/kasa-care").text
    review = browser.post(
        "/app/kasa-care/review", data={**_form(ids, False), "csrf_token": csrf(care)}
    ).text
    declined = browser.post(
        "/app/kasa-care/apply",
        data={**_form(ids, False), "csrf_token": csrf(review)},
        follow_redirects=False,
    )
    assert declined.status_code == 303
    page = browser.get(declined.headers["location"]).text
    assert "Your card was declined." in page
    assert '<a href="/app/billing#card">Use another card on the Billing page</a>' in page
    assert f'value="{ids[0]}" checked' in page


def test_issue14_item4_past_due_banner_then_a_new_card_pays_the_invoice(
    browser: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(JAN_5)
    sign_up(browser)
    ids = [_camera(browser, "Porch", "WEBR0041")]
    _card(browser, "4000000000000341")  # attaches, then declines every charge
    care = browser.get("/app/kasa-care").text
    review = browser.post(
        "/app/kasa-care/review", data={**_form(ids, True), "csrf_token": csrf(care)}
    ).text
    browser.post("/app/kasa-care/apply", data={**_form(ids, True), "csrf_token": csrf(review)})
    # The trial ends 4 Feb 2027 10:00Z; the first charge fails: retry 5 Feb, end 11 Feb.
    failed_at = JAN_5 + timedelta(days=30)
    run_due(context, failed_at + timedelta(hours=1))
    clock.set(failed_at + timedelta(hours=1))
    browser.cookies.clear()  # a month on, the session has ended: sign in again
    form = browser.get("/signin").text
    browser.post(
        "/signin",
        data={"email": "web@example.com", "password": PASSWORD, "csrf_token": csrf(form)},
    )
    for path in ("/app/kasa-care", "/app/billing"):
        page = browser.get(path).text
        banner = re.search(
            r"<div class=\"message error\" role=\"alert\" data-past-due>(.*?)</div>", page, re.S
        )
        assert banner, path
        text = " ".join(banner.group(1).split())
        assert "Your payment of £3.49" in text
        assert "We try again on 5 Feb 2027, 10:00 UTC" in text
        assert "your plan ends on 11 Feb 2027" in text
        assert "Update card</a>" in text
        # No next invoice date beside the failed one, as if all were well.
        assert "Next invoice:" not in page
    assert re.search(r"<p data-open-invoice>Unpaid: invoice INV-\d+, <strong>£3.49</strong>", page)
    # Issue 14 item 4: a new card declined for the invoice goes back to the card form
    # (post/redirect/get) with the refusal and its fix; the card is on file, still past_due.
    assert _card(browser, "4000000000000002") == "/app/billing?problem=card_declined#card"
    page = browser.get("/app/billing?problem=card_declined").text
    assert "Your card was declined. Try another card." in page
    assert '<a href="/app/billing#card">Use another card on the Billing page</a>' in page
    assert "ending in 0002" in page and "data-past-due" in page
    # M2: a good card retries at once, and the page says it paid the invoice.
    assert _card(browser) == "/app/billing?notice=card_paid_invoice"
    page = browser.get("/app/billing?notice=card_paid_invoice").text
    assert "Card saved, and it paid your open invoice" in page
    assert "data-past-due" not in page
    assert _card(browser) == "/app/billing?notice=card_saved"  # nothing was due any more


def test_issue14_item4_the_trial_end_is_the_same_day_on_every_page_in_the_accounts_zone(
    browser: TestClient, clock: FixedClock
) -> None:
    """The review gave the trial's end in the account's zone, the Kasa Care and Cameras pages
    in UTC: for an owner in Los Angeles an evening end read as two different days."""
    clock.set(datetime(2027, 1, 5, 3, tzinfo=UTC))  # 4 Jan 2027, 19:00 in Los Angeles
    sign_up(browser)
    settings = browser.get("/app/settings")
    browser.post(
        "/app/settings",
        data={"time_zone": "America/Los_Angeles", "csrf_token": csrf(settings.text)},
    )
    ids = [_camera(browser, "Porch", "WEBR0051")]
    _card(browser)
    care = browser.get("/app/kasa-care").text
    review = browser.post(
        "/app/kasa-care/review", data={**_form(ids, True), "csrf_token": csrf(care)}
    ).text
    # 30 days on: 4 Feb 2027 03:00 UTC, the evening of 3 Feb in Los Angeles (UTC-8).
    assert '<dd data-bought="trial">until 3 Feb 2027</dd>' in review
    assert "<strong>£3.49 on 3 Feb 2027 unless you cancel.</strong>" in review
    browser.post("/app/kasa-care/apply", data={**_form(ids, True), "csrf_token": csrf(review)})
    care = browser.get("/app/kasa-care").text
    assert "trial ends 3 Feb 2027" in care
    assert "Next invoice: <strong>£3.49</strong> on 3 Feb 2027" in care
    assert "To keep it until 3 Feb 2027 and not renew" in care
    assert "Next invoice: <strong>£3.49</strong> on 3 Feb 2027" in browser.get("/app/billing").text
    assert (
        "Free trial of Kasa Care Plus: last 30 days, until 3 Feb 2027"
        in browser.get("/app/cameras").text
    )
