"""The Notifications page (issue 14 item 3): each notice worded as its mail, naming camera,
plan and amount, with a link to its document; the nav's unread count; opening the page
marks them read. And the nav's accessibility (issue 14 item 4): a skip link, aria-current."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.conftest import csrf
from tests.web.test_pages import sign_up


def subscribe_in_the_app(browser: TestClient, camera_name: str = "Porch") -> str:
    """A GB owner's camera, card and Plus monthly (£3.49), all through the pages; answers
    the camera's id."""
    cameras = browser.get("/app/cameras")
    browser.post(
        "/app/cameras",
        data={
            "model": "KC120",
            "serial": f"WEBN{camera_name.upper()[:6]}",
            "name": camera_name,
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
    found = re.search(r'name="camera_ids" value="([^"]+)"', care.text)
    assert found
    form = {"action": "create", "plan": "plus", "cycle": "monthly", "camera_ids": found.group(1)}
    review = browser.post("/app/kasa-care/review", data={**form, "csrf_token": csrf(care.text)})
    applied = browser.post("/app/kasa-care/apply", data={**form, "csrf_token": csrf(review.text)})
    assert applied.status_code == 200, applied.text
    return found.group(1)


def _count(html: str) -> str | None:
    found = re.search(r'<span class="count" aria-label="(\d+) unread">', html)
    return found.group(1) if found else None


def test_issue14_item3_notifications_name_what_they_tell_of_and_are_marked_read(
    browser: TestClient,
) -> None:
    sign_up(browser)
    subscribe_in_the_app(browser)
    assert _count(browser.get("/app/cameras").text) == "1"  # the receipt

    page = browser.get("/app/notifications").text
    item = re.search(r'<li class="card unread">(.*?)</li>', page, re.S)
    assert item, page
    text = item.group(1)
    assert '<span class="badge">New</span> Your Kasa Care receipt for £3.49' in text
    assert "for Kasa Care Plus (monthly) for Porch on " in text
    assert "Charged to Visa •4242 £3.49." in text
    link = re.search(r'<a href="(/app/billing/invoices/[^"]+)">Invoice (INV-\d+)</a>', text)
    assert link, text
    assert browser.get(link.group(1)).status_code == 200  # the document's page
    assert f"(invoice {link.group(2)}, covering until " in text
    assert _count(page) is None  # opened: read

    again = browser.get("/app/notifications").text
    assert '<li class="card unread">' not in again
    assert 'class="badge">New' not in again


def test_issue14_item4_a_skip_link_and_aria_current_on_the_nav(browser: TestClient) -> None:
    sign_up(browser)
    page = browser.get("/app/billing").text
    assert '<a class="skip" href="#main">Skip to content</a>' in page
    assert '<main id="main">' in page
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', page)
    assert current == ["/app/billing"]
    invoice_like = browser.get("/app/notifications").text
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', invoice_like) == [
        "/app/notifications"
    ]


def _luminance(hex_color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_issue14_item4_the_focus_ring_contrasts_3_to_1_with_the_page(
    browser: TestClient,
) -> None:
    """WCAG 1.4.11: the ring (drawn outside the control, `outline-offset`) against the
    backgrounds it sits on, white cards and the page's --bg."""
    css = browser.get("/static/app.css").text
    rule = re.search(r"a:focus-visible[^{]*\{[^}]*outline: 3px solid (#[0-9a-fA-F]{6})", css)
    assert rule, "the focus rule names its colour"
    background = re.search(r"--bg: (#[0-9a-fA-F]{6})", css)
    assert background
    for page_colour in ("#ffffff", background.group(1)):
        assert _contrast(rule.group(1), page_colour) >= 3
    assert _contrast("#ffbf47", "#ffffff") < 3  # the old ring, for the record: 1.6:1
