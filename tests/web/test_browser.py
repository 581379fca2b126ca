"""The web app in a real headless Chromium (Debian's `chromium`, driven by Playwright) against a
real `kasacare serve` process with the test clock: what a person sees and does.

Everything an owner or an agent does goes through the pages. The operator's API only moves the
test clock, imports legacy subscriptions and creates a support agent; a camera uploads clips
with its device token. The owner's own API token (the session cookie holds it) is read only for
what no page shows: the ids the operator's import needs, the period the test's arithmetic
needs, and the camera setup that hands a camera its device token (as the Kasa app does).

Each main page is saved as a screenshot under `test-artifacts/screenshots/`; the Kasa Care
page and the activity center are also copied to `docs/screenshots/` for the README.

Without /usr/bin/chromium the module is skipped (`make browser` installs it), unless
KASACARE_REQUIRE_BROWSER=1 (CI), where its absence fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Request, expect, sync_playwright
from sqlalchemy import Engine

from kasacare.kit.db import create_db_engine
from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD
from tests.media import make_mp4
from tests.web.seeding import seed_clips

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CARD_NUMBER = "4242 4242 4242 4242"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"kasa" * 64


def require_browser() -> None:
    if CHROMIUM.exists():
        return
    message = (
        f"Chromium is not installed at {CHROMIUM}: run `make browser` as root "
        "(apt-get install chromium). The browser tests are skipped without it, "
        "except where KASACARE_REQUIRE_BROWSER=1 (CI) requires it."
    )
    if os.environ.get("KASACARE_REQUIRE_BROWSER") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# ---- fixtures: one server, one browser per module; a clean page per test ----------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The server's base URL and its database's URL."""
    require_browser()
    directory = tmp_path_factory.mktemp("browser-server")
    with fresh_database("sqlite", directory) as database_url:
        env = server_env(database_url, directory)
        with running_server(env, directory / "server.log") as base:
            yield base, database_url


@pytest.fixture(scope="module")
def base_url(server: tuple[str, str]) -> str:
    return server[0]


@pytest.fixture(scope="module")
def server_database(server: tuple[str, str]) -> Iterator[Engine]:
    """The server's own database, for seeding many clips at once (`tests.web.seeding`)."""
    engine = create_db_engine(server[1])
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def api(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    require_browser()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(
    driver: Playwright, base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile; never a downloaded browser."""
    context = driver.chromium.launch_persistent_context(
        tmp_path_factory.mktemp("chromium-profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        base_url=base_url,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(15_000)
    expect.set_options(timeout=10_000)  # a loaded CI machine is slow, not wrong
    yield context
    context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    browser.clear_cookies()
    tab = browser.new_page()
    yield tab
    tab.close()


def screenshot(page: Page, name: str, *, docs: str | None = None) -> None:
    """Save the whole page as a test artifact (and, for the README, under docs/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / docs)


# ---- what a person does ---------------------------------------------------------------


def new_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def sign_up(page: Page, email: str, country: str = "US") -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Country").select_option(country)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Cameras", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Welcome to Kasa Care")


def sign_in(page: Page, email: str, *, go: bool = True) -> None:
    if go:
        page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def add_camera(page: Page, serial: str, name: str, model: str = "KC120") -> None:
    if urlsplit(page.url).path != "/app/cameras":
        page.goto("/app/cameras")
    page.get_by_label("Model").select_option(model)
    page.get_by_label("Serial number").fill(serial)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Add camera").click()
    expect(page.get_by_role("status")).to_have_text("Camera added")


def add_card(page: Page) -> None:
    page.goto("/app/billing")
    enter_card(page, CARD_NUMBER)
    expect(page.get_by_role("status")).to_have_text("Card saved")
    expect(page.get_by_text("Visa (credit) ending in 4242, expires 12/2030")).to_be_visible()


def enter_card(page: Page, number: str) -> None:
    """The card form of the Billing page (already open), sent; what follows is the caller's."""
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Month").fill("12")
    page.get_by_label("Year").fill("2030")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name=re.compile("^(Add|Replace) card$")).click()


def select_services(
    page: Page, plan: str, cameras: list[str], *, cycle: str = "Monthly", trial: bool = False
) -> None:
    """The Select Services step of the Kasa Care page, up to its Review button."""
    page.goto("/app/kasa-care")
    form = page.locator("section", has=page.get_by_role("heading", name="Select Services"))
    form.get_by_label(plan).check()
    form.get_by_label(cycle, exact=True).check()
    for camera in cameras:
        form.get_by_label(camera).check()
    if trial:
        form.get_by_label(re.compile("free 30-day trial")).check()
    form.get_by_role("button", name="Review", exact=True).click()


def quote(page: Page, field: str) -> str | None:
    """A money row of the review; None when the review leaves it out (issue 14 item 4: no
    rows of nothing, but the charge)."""
    page.get_by_role("button", name="Confirm").wait_for()  # every review has it: the page is in
    row = page.locator(f'dd[data-quote="{field}"]')
    return row.inner_text() if row.count() else None


def confirm(page: Page) -> None:
    page.get_by_role("button", name="Confirm").click()
    # Issue 14 item 4: the notice says what happened ("Your free trial has started ...").
    expect(page.get_by_role("status")).not_to_have_text("Done")
    expect(page.get_by_role("status")).to_be_visible()


def credit_note_rows(page: Page) -> list[list[str]]:
    table = page.locator("table", has=page.get_by_role("columnheader", name="Kind"))
    rows = table.locator("tbody tr")
    return [[c.strip() for c in row.locator("td").all_inner_texts()] for row in rows.all()]


def dollars(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def account_zone(api: httpx.Client, page: Page) -> ZoneInfo:
    """The zone the account took from the browser at sign-up: the pages' dates are in it."""
    return ZoneInfo(owner_api(api, page, "GET", "/v1/me")["time_zone"])


def day(moment: datetime, zone: ZoneInfo) -> str:
    """A date as the pages write it: `4 Jan 2027`."""
    return moment.astimezone(zone).strftime("%-d %b %Y")


def when(moment: datetime, zone: ZoneInfo) -> str:
    """An instant as the pages write it: `4 Jan 2027, 09:00 UTC`."""
    seen = moment.astimezone(zone)
    return f"{seen:%-d %b %Y, %H:%M} {seen.tzname()}"


def unused_fraction(start: datetime, end: datetime, at: datetime) -> Fraction:
    """M6, worked out here: the part of the period still ahead, exact to the microsecond."""
    micro = timedelta(microseconds=1)
    return Fraction((end - at) // micro, (end - start) // micro)


# ---- the operator's and the camera's side (APIs, not pages) -----------------------------


def server_now(api: httpx.Client) -> datetime:
    return datetime.fromisoformat(api.get("/v1/admin/clock", headers=ADMIN).json()["now"])


def advance_clock(api: httpx.Client, by: timedelta) -> datetime:
    moved = api.post(
        "/v1/admin/clock/advance", json={"seconds": int(by.total_seconds())}, headers=ADMIN
    )
    assert moved.status_code == 200, moved.text
    return datetime.fromisoformat(moved.json()["now"])


def session_headers(page: Page) -> dict[str, str]:
    """The owner's own API token: the session cookie holds it (as the Kasa app would)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "kc_session")
    return {"Authorization": f"Bearer {token}"}


def owner_api(api: httpx.Client, page: Page, method: str, path: str, body: Any = None) -> Any:
    response = api.request(method, path, json=body, headers=session_headers(page))
    assert response.status_code in (200, 201), response.text
    return response.json()


def upload_clip(
    api: httpx.Client, device_token: str, started_at: datetime, video: bytes = VIDEO
) -> None:
    response = api.post(
        "/v1/device/clips",
        headers={"Authorization": f"Device {device_token}"},
        data={"started_at": started_at.isoformat(), "duration_s": "20", "kind": "motion"},
        files={"video": ("clip.mp4", video, "video/mp4")},
    )
    assert response.status_code == 201, response.text


def import_legacy(
    api: httpx.Client, account_id: str, camera_id: str, channel: str, now: datetime
) -> dict[str, Any]:
    # Paid $3.00 for a 30-day period with 20 days left: the refund is 300 x 20/30 = $2.00.
    response = api.post(
        "/v1/admin/legacy-subscriptions",
        headers=ADMIN,
        json={
            "account_id": account_id,
            "plan": "legacy-plus",
            "cycle": "monthly",
            "camera_ids": [camera_id],
            "price": {"amount": 300, "currency": "USD"},
            "paid": {"amount": 300, "currency": "USD"},
            "current_period_start": (now - timedelta(days=10)).isoformat(),
            "current_period_end": (now + timedelta(days=20)).isoformat(),
            "channel": channel,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# ---- scenarios ----------------------------------------------------------------------------


def test_t1_sign_up_add_a_camera_and_a_card_start_a_trial_and_see_the_entitlement(
    page: Page, api: httpx.Client
) -> None:
    """T1, and issue 14 item 4: the trial's review names what is bought and its first charge."""
    sign_up(page, new_email("trial"))
    add_camera(page, "BRW0000001", "Porch")
    expect(page.locator(".camera", has_text="Porch")).to_contain_text("Free plan: last 2 days")

    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    add_card(page)
    with_card = [
        r.url
        for r in requests
        if re.sub(r"[\s-]", "", unquote_plus(r.post_data or "")).find("4242424242424242") >= 0
    ]
    # The card number reaches the tokenizer, and nothing else: not the page's own form.
    assert [urlsplit(url).path for url in with_card] == ["/v1/sandbox/tokens"]
    card_form = [r for r in requests if urlsplit(r.url).path == "/app/billing/card"]
    assert card_form and "token=" in (card_form[0].post_data or "")

    select_services(page, "Kasa Care Plus", ["Porch · Kasa Cam (KC120)"], trial=True)
    expect(page.get_by_role("heading", name="Review your new plan")).to_be_visible()
    assert quote(page, "charge") == "$0.00"  # a trial moves no money until its end (T1)
    # Issue 14 item 4: plan, cycle, camera, trial end, card and the first charge, in words.
    # The trial is 30 days from the server's clock; its end is the first charge's day.
    zone = account_zone(api, page)
    trial_end = day(server_now(api) + timedelta(days=30), zone)
    bought = page.locator("section[data-bought]")
    expect(bought.locator('[data-bought="plan"]')).to_have_text("Kasa Care Plus, billed monthly")
    expect(bought.locator('[data-bought="cameras"]')).to_have_text("Porch · Kasa Cam (KC120)")
    expect(bought.locator('[data-bought="trial"]')).to_have_text(f"until {trial_end}")
    expect(bought.locator('[data-bought="card"]')).to_have_text("Visa •4242")
    first_charge = bought.locator('[data-bought="first-charge"]')
    # One Plus seat at $3.99 a month, charged when the trial ends.
    expect(first_charge.locator("strong")).to_have_text(f"$3.99 on {trial_end} unless you cancel.")
    expect(first_charge).to_contain_text("The trial needs a card on file; nothing is charged now.")
    expect(first_charge).to_contain_text("the plan renews by itself every month until you cancel")
    expect(page.locator('[data-quote="next"]')).to_have_text(f"$3.99 on {trial_end}")
    screenshot(page, "review-create", docs="review-trial.png")
    confirm(page)
    expect(page.get_by_role("heading", name="Your plan: Kasa Care Plus (monthly)")).to_be_visible()
    expect(page.get_by_text("Free trial", exact=True)).to_be_visible()
    expect(page.get_by_text(f"trial ends {trial_end}")).to_be_visible()

    page.get_by_role("navigation").get_by_role("link", name="Cameras").click()
    expect(page.locator(".camera", has_text="Porch")).to_contain_text(
        "Free trial of Kasa Care Plus: last 30 days, until "
    )
    screenshot(page, "cameras")


def test_c1_plus_for_two_cameras_then_one_removed_gives_a_credit_note(page: Page) -> None:
    sign_up(page, new_email("credit"))
    add_camera(page, "BRW0000101", "Garden")
    add_camera(page, "BRW0000102", "Garage")
    add_card(page)

    select_services(
        page, "Kasa Care Plus", ["Garden · Kasa Cam (KC120)", "Garage · Kasa Cam (KC120)"]
    )
    assert quote(page, "charge") == "$7.98"  # 2 cameras x $3.99
    confirm(page)
    expect(page.get_by_text("Next invoice: $7.98")).to_be_visible()

    page.get_by_role("button", name="Remove Garage from the plan").click()
    expect(page.get_by_role("heading", name="Review removing a camera")).to_be_visible()
    # Removed at the start of the period: the whole month is unused, 399 x 1 = $3.99 credit.
    assert quote(page, "credit") == "$3.99"
    assert quote(page, "refund") is None  # nothing refunded: no row
    confirm(page)

    page.get_by_role("navigation").get_by_role("link", name="Billing").click()
    rows = credit_note_rows(page)
    assert len(rows) == 1
    number, _date, kind, total = rows[0]
    assert (number[:3], kind, total) == ("CN-", "credit", "$3.99")
    expect(page.locator("[data-balance]")).to_have_text("$3.99")
    screenshot(page, "billing")


def test_c1_cancel_shows_the_quote_refunds_and_erased_clips_are_no_longer_available(
    page: Page, api: httpx.Client
) -> None:
    email = new_email("cancel")
    sign_up(page, email)
    # Camera setup, as the Kasa app does it: the camera gets its device token once.
    camera = owner_api(
        api, page, "POST", "/v1/cameras", {"model": "KC120", "serial": "BRW0000201", "name": "Hall"}
    )
    add_card(page)
    select_services(page, "Kasa Care Plus", ["Hall · Kasa Cam (KC120)"])
    confirm(page)
    period = owner_api(api, page, "GET", "/v1/subscription")

    # Three clips now; three days later two more. Plus keeps 30 days, the free plan 2.
    now = server_now(api)
    for minutes_ago in (90, 60, 30):
        upload_clip(api, camera["device_token"], now - timedelta(minutes=minutes_ago))
    now = advance_clock(api, timedelta(days=3))
    for minutes_ago in (60, 30):
        upload_clip(api, camera["device_token"], now - timedelta(minutes=minutes_ago))

    page.goto("/app/kasa-care")  # the 12-hour session ended while the clock moved
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, email)
    # C1: the unused part of the month comes back: 399 x (end - now) / (end - start).
    start = datetime.fromisoformat(period["current_period_start"])
    end = datetime.fromisoformat(period["current_period_end"])
    refund = dollars(round(399 * unused_fraction(start, end, now)))
    page.get_by_role("button", name="Cancel Kasa Care").click()
    expect(page.get_by_role("heading", name="Review cancelling")).to_be_visible()
    assert quote(page, "refund") == refund
    assert quote(page, "charge") is None  # nothing charged: no row
    erased = page.locator("section.quote")
    expect(erased.get_by_role("heading", name="Video history that will be erased")).to_be_visible()
    expect(erased.get_by_role("listitem").filter(has_text="Hall")).to_contain_text(
        "clips from before"
    )
    # Plus grants download: the three clips that will go can be kept before confirming.
    expect(erased.get_by_role("link", name=re.compile("^Download clip of"))).to_have_count(3)
    screenshot(page, "review-cancel")
    confirm(page)
    expect(page.get_by_role("heading", name="Select Services")).to_be_visible()

    page.goto("/app/billing")
    rows = credit_note_rows(page)
    assert [(kind, total) for _n, _d, kind, total in rows] == [("refund", refund)]

    page.goto("/app/activity")
    clips = page.locator("li.clip")
    expect(clips).to_have_count(5)
    gone = clips.filter(has_text="No longer available")
    expect(gone).to_have_count(3)
    expect(gone.locator("video")).to_have_count(0)
    playable = clips.filter(has_not_text="No longer available")
    expect(playable.locator("video")).to_have_count(2)
    media = page.request.get(playable.locator("video").first.get_attribute("src") or "")
    assert (media.status, media.headers["content-type"]) == (200, "video/mp4")  # signed URL
    screenshot(page, "activity", docs="activity.png")

    page.goto("/app/notifications")
    # Issue 14 item 3: each notice names its amount, plan, camera and document.
    refunded = page.locator("li", has_text=f"Your Kasa Care refund of {refund}")
    expect(refunded).to_contain_text("for Kasa Care Plus for Hall")
    expect(refunded.get_by_role("link", name=re.compile("^Credit note CN-"))).to_be_visible()
    expect(page.get_by_text("Video history of Hall was erased")).to_be_visible()
    # Issue 14 item 3: what arrived since the last visit is marked New.
    expect(page.locator("li.unread").first).to_contain_text("New")
    screenshot(page, "notifications", docs="notifications.png")


def test_issue_14_item_4_a_refused_billing_address_comes_back_filled_and_a_refresh_posts_nothing(
    page: Page,
) -> None:
    """Post/redirect/get on the Billing page: the refusal redirects to the page with its
    banner, what was typed is filled in again (from a cookie, never the address), and a
    refresh only reloads the page."""
    sign_up(page, new_email("address"))  # US: the sales tax of the state
    page.goto("/app/billing")
    page.get_by_label("Name or company").fill("Ada Owner")
    page.get_by_label("Address", exact=True).fill("1 Market Street")
    page.get_by_label("City").fill("San Francisco")
    page.get_by_label("State, province or region").fill("ZZ")
    page.get_by_label("Postal code").fill("94105")
    page.get_by_role("button", name="Save billing address").click()

    def refused() -> None:
        expect(page.get_by_role("alert")).to_contain_text("Enter the state or province")
        assert urlsplit(page.url).path == "/app/billing" and "Market" not in page.url
        region = page.get_by_label("State, province or region")
        expect(region).to_have_value("ZZ")
        expect(region).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Address", exact=True)).to_have_value("1 Market Street")
        expect(page.get_by_label("Postal code")).to_have_value("94105")

    refused()
    posts: list[str] = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    page.reload()
    refused()
    assert posts == []  # the refresh sent nothing again
    page.get_by_label("State, province or region").fill("CA")
    page.get_by_role("button", name="Save billing address").click()
    expect(page.get_by_role("status")).to_have_text("Billing address saved")
    expect(page.locator("[data-tax]")).to_have_text("Sales tax 7.25% is added to prices")
    expect(page.get_by_label("City")).to_have_value("San Francisco")


def test_l4_a_legacy_account_upgrades_to_the_new_plans(page: Page, api: httpx.Client) -> None:
    sign_up(page, new_email("legacy"))
    add_camera(page, "BRW0000301", "Nursery")
    add_card(page)
    me = owner_api(api, page, "GET", "/v1/me")
    camera_id = owner_api(api, page, "GET", "/v1/cameras")["items"][0]["id"]
    import_legacy(api, me["id"], camera_id, "direct", server_now(api))

    page.goto("/app/kasa-care")
    legacy = page.locator("section", has=page.get_by_role("heading", name="legacy Kasa Care"))
    expect(legacy).to_contain_text("Kasa Care (legacy) Plus (monthly)")
    expect(legacy).to_contain_text("refund if ended now: $2.00")
    expect(legacy).to_contain_text("Upgrading is one way.")
    screenshot(page, "kasa-care-legacy")

    legacy.get_by_role("link", name="Upgrade to New Plans").click()
    assert page.url.endswith("#select-services")
    select_services(page, "Kasa Care Plus", ["Nursery · Kasa Cam (KC120)"])
    expect(page.get_by_role("heading", name="Review your new plan")).to_be_visible()
    assert quote(page, "refund") == "$2.00"  # the legacy plan's unused part
    assert quote(page, "charge") == "$3.99"
    expect(page.get_by_text("This is one way: legacy plans can't be bought again.")).to_be_visible()
    understood = page.get_by_label("I understand: end my legacy plans")
    expect(understood).not_to_be_checked()
    page.get_by_role("button", name="Confirm").click()  # refused by the form: still here
    expect(page.get_by_role("heading", name="Review your new plan")).to_be_visible()
    assert understood.evaluate("box => !box.validity.valid")
    understood.check()
    confirm(page)

    expect(page.get_by_role("heading", name="Your plan: Kasa Care Plus (monthly)")).to_be_visible()
    expect(page.get_by_role("heading", name="Your legacy Kasa Care plans")).to_have_count(0)
    page.goto("/app/billing")
    assert ("refund", "$2.00") in [(kind, total) for _n, _d, kind, total in credit_note_rows(page)]


def test_l6_a_support_agent_resolves_an_app_store_case(page: Page, api: httpx.Client) -> None:
    owner = new_email("store")
    sign_up(page, owner)
    add_camera(page, "BRW0000401", "Shed")
    add_card(page)
    me = owner_api(api, page, "GET", "/v1/me")
    camera_id = owner_api(api, page, "GET", "/v1/cameras")["items"][0]["id"]
    import_legacy(api, me["id"], camera_id, "app_store", server_now(api))
    page.goto("/app/kasa-care")
    expect(page.get_by_text("This subscription cannot be refunded.")).to_be_visible()

    agent = new_email("agent")
    created = api.post(
        "/v1/admin/support-agents", headers=ADMIN, json={"email": agent, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    page.context.clear_cookies()
    sign_in(page, agent)
    expect(page.get_by_role("heading", name="Support console")).to_be_visible()
    page.get_by_label("Email (or its beginning) or camera serial").fill(owner.upper())
    page.get_by_role("button", name="Search").click()
    screenshot(page, "support-console")
    page.get_by_role("link", name=owner).click()

    expect(page.get_by_role("heading", name=owner)).to_be_visible()
    case = page.locator("section", has=page.get_by_role("heading", name="(app_store)"))
    case.get_by_label("Outcome").select_option(label="Refund to card")
    case.get_by_label("Amount").fill("1.50")
    note = "Bought in the App Store; store refused, refund agreed by phone"
    case.get_by_label("Note").fill(note)
    case.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_have_text("Done")
    expect(page.get_by_text("legacy closed")).to_be_visible()
    timeline = page.locator("ol.timeline")
    screenshot(page, "support-account")
    expect(timeline).to_contain_text(note)
    expect(
        timeline.get_by_role("listitem").filter(has_text="$1.50 refunded to the card")
    ).to_have_count(1)
    screenshot(page, "support-account")


def test_p1_premium_refuses_an_eleventh_camera_in_the_form(page: Page) -> None:
    sign_up(page, new_email("premium"))
    names = [f"Cam {n:02d}" for n in range(1, 12)]
    for number, name in enumerate(names, start=1):
        add_camera(page, f"BRW00005{number:02d}", name)

    select_services(page, "Kasa Care Premium", [f"{name} · Kasa Cam (KC120)" for name in names])
    assert urlsplit(page.url).path == "/app/kasa-care"  # the form did not go anywhere
    refusal = page.locator("[data-limit-message]")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_text(
        "Premium covers up to 10 cameras. For more, use another Kasa account for the others, "
        "or choose Plus for every camera."
    )
    expect(refusal).to_be_focused()

    # Past the script (form.submit() skips the submit event), the server refuses in words too.
    page.locator("form.select-services").evaluate("form => form.submit()")
    expect(page.get_by_role("alert")).to_have_text(
        "Premium covers up to 10 cameras. For more, use another Kasa account for the others, "
        "or choose Plus for every camera: Plus has no limit."
    )


def test_the_sign_in_form_works_from_the_keyboard(page: Page) -> None:
    email = new_email("keys")
    sign_up(page, email)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "signin")

    field = page.get_by_label("Email")
    for _ in range(5):
        page.keyboard.press("Tab")
        if field.evaluate("input => input === document.activeElement"):
            break
    expect(field).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Kasa Care", exact=True)).to_be_visible()
    assert urlsplit(page.url).path == "/app/kasa-care"


def test_the_kasa_care_page_fits_a_360_pixel_phone(page: Page) -> None:
    sign_up(page, new_email("phone"))
    add_camera(page, "BRW0000601", "Front door")
    page.goto("/app/kasa-care")
    screenshot(page, "kasa-care", docs="kasa-care.png")

    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    expect(page.get_by_role("heading", name="Select Services")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "kasa-care-phone")

    # The rest of the way on the phone too: no page scrolls sideways.
    add_card(page)
    select_services(page, "Kasa Care Plus", ["Front door · Kasa Cam (KC120)"], cycle="Annual")
    expect(page.get_by_role("button", name="Confirm")).to_be_visible()  # the review page
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "review"
    confirm(page)
    for path in ("/app/kasa-care", "/app/cameras", "/app/billing", "/app/activity"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path


# ---- the activity center (issue 11, item 4) and removing a camera (item 5) ------------------


def clip_times(page: Page) -> list[str]:
    """The instants (RFC 3339, UTC) of the clips on the page, top to bottom."""
    return [
        t or ""
        for t in page.locator("li.clip time").evaluate_all(
            "times => times.map(t => t.getAttribute('datetime'))"
        )
    ]


def test_issue_11_item_4_activity_pages_through_500_clips_older_then_newer(
    page: Page, api: httpx.Client, server_database: Engine
) -> None:
    sign_up(page, new_email("paging"))
    camera = owner_api(
        api, page, "POST", "/v1/cameras", {"model": "KC120", "serial": "BRW0000701", "name": "Yard"}
    )
    now = server_now(api)
    # 500 clips, one every 5 minutes: 41 h 40 min, inside the free plan's 48 hours.
    seed_clips(server_database, camera["id"], [now - timedelta(minutes=5 * n) for n in range(500)])

    page.goto("/app/activity")
    expect(page.get_by_text("Times in UTC")).to_be_visible()
    expect(page.get_by_role("link", name="Newer clips")).to_have_count(0)
    pages = [clip_times(page)]
    screenshot(page, "activity-grid", docs="activity-center.png")
    while page.get_by_role("link", name="Older clips").count():
        page.get_by_role("link", name="Older clips").click()
        expect(page.get_by_role("link", name="Newer clips")).to_be_visible()
        pages.append(clip_times(page))
    assert [len(times) for times in pages] == [50] * 10
    seen = [at for times in pages for at in times]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 500  # each once, in order

    for expected in reversed(pages[:-1]):
        page.get_by_role("link", name="Newer clips").click()
        expect(page.locator("li.clip")).to_have_count(50)
        assert clip_times(page) == expected
    expect(page.get_by_role("link", name="Newer clips")).to_have_count(0)

    # The date picker: the day before today starts at its last clip, before midnight UTC.
    yesterday = (now - timedelta(days=1)).date()
    page.get_by_label("Go to day").fill(yesterday.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(f"day={yesterday.isoformat()}"))
    expect(page.locator("section.day h2").first).to_have_text(yesterday.strftime("%A %-d %B %Y"))
    first = datetime.fromisoformat(clip_times(page)[0])
    assert first.date() == yesterday and first > datetime.combine(
        yesterday, datetime.max.time(), tzinfo=first.tzinfo
    ) - timedelta(minutes=5)


def test_issue_11_item_4_days_and_times_in_the_zone_the_browser_signed_up_in(
    driver: Playwright, base_url: str, api: httpx.Client, server_database: Engine
) -> None:
    """A browser in Los Angeles: the account takes its zone at sign-up, and a clip at 03:00 UTC
    is shown the evening before (UTC-8 in winter, UTC-7 in summer)."""
    zone = "America/Los_Angeles"
    browser = driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        context = browser.new_context(base_url=base_url, timezone_id=zone)
        context.set_default_timeout(15_000)
        tab = context.new_page()
        sign_up(tab, new_email("zone"))
        assert owner_api(api, tab, "GET", "/v1/me")["time_zone"] == zone
        camera = owner_api(
            api,
            tab,
            "POST",
            "/v1/cameras",
            {"model": "KC120", "serial": "BRW0000801", "name": "Pool"},
        )
        now = server_now(api)
        day = now.date() if now.hour >= 4 else now.date() - timedelta(days=1)
        at = datetime.combine(day, datetime.min.time(), tzinfo=now.tzinfo) + timedelta(hours=3)
        seed_clips(server_database, camera["id"], [at])
        local = at.astimezone(ZoneInfo(zone))
        assert local.date() == day - timedelta(days=1)

        tab.goto("/app/activity")
        expect(tab.get_by_text(f"Times in {zone}")).to_be_visible()
        expect(tab.locator("section.day h2")).to_have_text([local.strftime("%A %-d %B %Y")])
        expect(tab.locator("li.clip time")).to_have_text(local.strftime("%H:%M:%S"))
        screenshot(tab, "activity-los-angeles")
        context.close()
    finally:
        browser.close()


def test_issue_11_item_4_a_real_mp4_seeks_and_an_expired_url_is_refreshed_on_play(
    page: Page, api: httpx.Client
) -> None:
    sign_up(page, new_email("seek"))
    camera = owner_api(
        api, page, "POST", "/v1/cameras", {"model": "KC120", "serial": "BRW0000901", "name": "Door"}
    )
    upload_clip(api, camera["device_token"], server_now(api), make_mp4(20, 64, 48))
    media: list[int] = []
    page.on(
        "response",
        lambda r: media.append(r.status) if "/v1/clip-media/" in r.url else None,
    )
    page.goto("/app/activity")
    video = page.locator("li.clip video")
    expect(video).to_have_count(1)
    # The page stays open past the 300 s of its URL: playing asks for a fresh one.
    advance_clock(api, timedelta(minutes=10))
    video.evaluate("v => { v.muted = true; return v.play().catch(() => null); }")
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 19", arg=video.element_handle())
    assert 403 in media  # the stale URL was refused, then replaced: no grey player
    expect(page.locator("[data-player-error]")).to_be_hidden()

    video.evaluate("v => { v.pause(); v.currentTime = 15; }")
    page.wait_for_function(
        "v => !v.seeking && Math.abs(v.currentTime - 15) < 0.5", arg=video.element_handle()
    )
    seekable = video.evaluate(
        "v => ({ ranges: v.seekable.length, start: v.seekable.start(0), end: v.seekable.end(0),"
        " now: v.currentTime })"
    )
    assert seekable["ranges"] == 1 and seekable["start"] == 0
    assert seekable["end"] >= 19.9 and abs(seekable["now"] - 15) < 0.5
    page.wait_for_timeout(300)
    assert abs(video.evaluate("v => v.currentTime") - 15) < 0.5  # it stuck: no jump back to 0
    assert 206 in media  # served in ranges by the local-disk media route


def test_issue_11_item_4_a_clip_erased_while_the_page_is_open_says_so(
    page: Page, api: httpx.Client
) -> None:
    sign_up(page, new_email("erased"))
    camera = owner_api(
        api, page, "POST", "/v1/cameras", {"model": "KC120", "serial": "BRW0001001", "name": "Gate"}
    )
    upload_clip(api, camera["device_token"], server_now(api))
    page.goto("/app/activity")
    advance_clock(api, timedelta(days=3))  # past the free plan's 48 hours: no longer available
    page.locator("li.clip video").evaluate("v => v.play().catch(() => null)")
    expect(page.locator("[data-player-error]")).to_have_text(
        re.compile("No longer available|You were signed out")
    )
    expect(page.locator("li.clip video")).to_be_hidden()


def test_issue_11_item_5_removing_a_camera_reviews_its_history_first(
    page: Page, api: httpx.Client
) -> None:
    sign_up(page, new_email("remove"))
    camera = owner_api(
        api,
        page,
        "POST",
        "/v1/cameras",
        {"model": "KC120", "serial": "BRW0001101", "name": "Attic"},
    )
    now = server_now(api)
    for minutes in (30, 20, 10):
        upload_clip(api, camera["device_token"], now - timedelta(minutes=minutes))
    page.goto("/app/cameras")
    page.get_by_role("link", name="Remove Attic from this account").click()
    expect(page.get_by_role("heading", name="Remove Attic?")).to_be_visible()
    expect(page.locator("[data-erased-count]")).to_contain_text("3 clips")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all (3) as a zip").click()
    assert download.value.suggested_filename == "Attic-clips.zip"
    screenshot(page, "remove-camera")
    page.get_by_role("button", name="Confirm: remove the camera and erase its clips").click()
    expect(page.get_by_role("status")).to_have_text("Camera removed")
    expect(page.locator(".camera", has_text="Attic")).to_have_count(0)


# ---- issue 14: a failed payment and its recovery, auto-renew, a declined card ---------------


def test_issue_14_item_4_a_failed_renewal_shows_its_banner_and_a_new_card_pays_it(
    page: Page, api: httpx.Client
) -> None:
    """Issue 14 item 4: a renewal the card declines puts the plan past_due; both pages show
    the failed amount, the next retry and the end date with an Update card link; a good card
    pays the open invoice at once (M2) and the banner goes."""
    email = new_email("dunning")
    sign_up(page, email)
    add_camera(page, "BRW0001201", "Driveway")
    add_card(page)
    select_services(page, "Kasa Care Plus", ["Driveway · Kasa Cam (KC120)"])
    assert quote(page, "charge") == "$3.99"
    confirm(page)
    # The published test card that attaches and then declines every charge (M3).
    page.goto("/app/billing")
    enter_card(page, "4000 0000 0000 0341")
    expect(page.get_by_role("status")).to_have_text("Card saved")
    expect(page.get_by_text("Visa (credit) ending in 0341, expires 12/2030")).to_be_visible()
    zone = account_zone(api, page)
    period = owner_api(api, page, "GET", "/v1/subscription")
    end = datetime.fromisoformat(period["current_period_end"])

    # An hour past the period end: the renewal ran at the end and was declined.
    advance_clock(api, end - server_now(api) + timedelta(hours=1))
    page.goto("/app/kasa-care")  # the session ended while the clock moved a month
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, email)
    expect(page.get_by_role("heading", name="Kasa Care", exact=True)).to_be_visible()
    expect(page.get_by_text("Payment failed", exact=True)).to_be_visible()
    # M5: retries 1, 3, 5 and 7 days after the failure; the plan ends after the last one.
    retry, ends = when(end + timedelta(days=1), zone), day(end + timedelta(days=7), zone)
    banner = page.locator("[data-past-due]")
    expect(banner).to_contain_text(
        f"Your payment of $3.99 failed. We try again on {retry}; if every try fails, "
        f"your plan ends on {ends}."
    )
    invoice = owner_api(api, page, "GET", "/v1/invoices")["items"]
    open_invoices = [item["number"] for item in invoice if item["status"] == "open"]
    assert len(open_invoices) == 1
    expect(banner).to_contain_text(f"the new card pays invoice {open_invoices[0]} at once")
    # No next invoice date beside the failed one, as if all were well.
    expect(page.get_by_text("Next invoice:")).to_have_count(0)
    screenshot(page, "kasa-care-past-due")

    banner.get_by_role("link", name="Update card").click()
    assert urlsplit(page.url).path == "/app/billing" and page.url.endswith("#card")
    billing_banner = page.locator("[data-past-due]")
    expect(billing_banner).to_contain_text(
        f"Your payment of $3.99 for invoice {open_invoices[0]} failed. "
        f"We try again on {retry}; if every try fails, your plan ends on {ends}."
    )
    expect(page.locator("[data-open-invoice]")).to_have_text(
        f"Unpaid: invoice {open_invoices[0]}, $3.99"
    )
    enter_card(page, CARD_NUMBER)
    expect(page.get_by_role("status")).to_have_text(
        "Card saved, and it paid your open invoice: your plan is active again"
    )
    expect(page.locator("[data-past-due]")).to_have_count(0)
    expect(page.get_by_text("Visa (credit) ending in 4242, expires 12/2030")).to_be_visible()
    invoices = page.locator("table", has=page.get_by_role("columnheader", name="Status"))
    renewal = invoices.locator("tbody tr", has_text=open_invoices[0])
    expect(renewal.locator("td").nth(2)).to_have_text("$3.99")
    expect(renewal.locator("td").nth(3)).to_have_text("paid")
    screenshot(page, "billing-recovered")

    expect(page.locator("[data-open-invoice]")).to_have_count(0)

    page.goto("/app/kasa-care")
    expect(page.get_by_text("Active", exact=True)).to_be_visible()
    expect(page.locator("[data-past-due]")).to_have_count(0)
    renewed = owner_api(api, page, "GET", "/v1/subscription")
    assert renewed["status"] == "active"
    assert datetime.fromisoformat(renewed["current_period_start"]) == end
    next_end = datetime.fromisoformat(renewed["current_period_end"])
    expect(page.locator("p", has_text="Next invoice:")).to_have_text(
        f"Next invoice: $3.99 on {day(next_end, zone)}"
    )


def test_issue_14_item_5_auto_renew_turned_off_then_on_again_on_the_kasa_care_page(
    page: Page, api: httpx.Client
) -> None:
    """Issue 14 item 5: off, the page says the plan ends at the period end without a charge;
    on again, it renews on that day as before; the API says the same each time."""
    sign_up(page, new_email("renew"))
    add_camera(page, "BRW0001301", "Porch light")
    add_card(page)
    select_services(page, "Kasa Care Plus", ["Porch light · Kasa Cam (KC120)"])
    confirm(page)
    zone = account_zone(api, page)
    period = owner_api(api, page, "GET", "/v1/subscription")
    end = datetime.fromisoformat(period["current_period_end"])
    assert period["auto_renew"] is True
    next_invoice = page.locator("p", has_text="Next invoice:")
    expect(next_invoice).to_have_text(f"Next invoice: $3.99 on {day(end, zone)}")

    page.get_by_role("button", name="Turn off auto-renew").click()
    expect(page.get_by_role("status")).to_have_text(
        "Auto-renew is off: your plan runs to the end of this period, then ends"
    )
    expect(page.locator("p.warning", has_text="Auto-renew is off")).to_have_text(
        f"Auto-renew is off: your plan ends on {day(end, zone)} and you will not be charged again."
    )
    expect(next_invoice).to_have_count(0)
    expect(page.get_by_role("button", name="Turn off auto-renew")).to_have_count(0)
    screenshot(page, "kasa-care-auto-renew-off")
    off = owner_api(api, page, "GET", "/v1/subscription")
    assert (off["auto_renew"], off["ends_at"], off["next_invoice"]) == (
        False,
        period["current_period_end"],
        None,
    )

    page.get_by_role("button", name="Turn auto-renew back on").click()
    expect(page.get_by_role("status")).to_have_text(
        "Auto-renew is on again: your plan renews as before"
    )
    expect(next_invoice).to_have_text(f"Next invoice: $3.99 on {day(end, zone)}")
    expect(page.locator("p.warning", has_text="Auto-renew is off")).to_have_count(0)
    expect(page.get_by_text(f"To keep it until {day(end, zone)} and not renew")).to_be_visible()
    on = owner_api(api, page, "GET", "/v1/subscription")
    assert (on["auto_renew"], on["ends_at"], on["current_period_end"]) == (
        True,
        None,
        period["current_period_end"],
    )
    assert on["next_invoice"] == {
        "date": period["current_period_end"],
        "amount": {"amount": 399, "currency": "USD"},
    }


def test_issue_14_item_4_a_declined_card_at_the_review_keeps_plan_cycle_and_cameras(
    page: Page,
) -> None:
    """Issue 14 item 4: a card declined when the review is confirmed goes back to the Kasa
    Care page with the refusal, a link to the fix, and the choices made."""
    sign_up(page, new_email("declined"))
    add_camera(page, "BRW0001401", "Barn")
    add_camera(page, "BRW0001402", "Stable")
    page.goto("/app/billing")
    enter_card(page, "4000 0000 0000 0002")  # attaches, declines every charge (M3)
    expect(page.get_by_role("status")).to_have_text("Card saved")
    select_services(page, "Kasa Care Premium", ["Stable · Kasa Cam (KC120)"], cycle="Annual")
    expect(page.get_by_role("heading", name="Review your new plan")).to_be_visible()
    expect(page.locator('[data-bought="plan"]')).to_have_text("Kasa Care Premium, billed annually")
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("alert").filter(has_text="Your card was declined.")).to_be_visible()
    assert urlsplit(page.url).path == "/app/kasa-care"
    form = page.locator("section", has=page.get_by_role("heading", name="Select Services"))
    expect(form.get_by_label("Kasa Care Premium")).to_be_checked()
    expect(form.get_by_label("Annual", exact=True)).to_be_checked()
    expect(form.get_by_label("Stable · Kasa Cam (KC120)")).to_be_checked()
    expect(form.get_by_label("Barn · Kasa Cam (KC120)")).not_to_be_checked()
    screenshot(page, "kasa-care-declined")
    page.get_by_role("link", name="Use another card on the Billing page").click()
    assert urlsplit(page.url).path == "/app/billing" and page.url.endswith("#card")
