"""What the pages say instead of codes (issue 14 item 4): a camera's entitlement names the
plan that covers it and its next date; countries by name, in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from kasacare.entitlements.rules import Entitlement, EntitlementSource
from kasacare.web.render import country, country_choices, entitlement_words

PREMIUM = Entitlement(EntitlementSource.PREMIUM, True, 720, True, True, None)
TRIAL = Entitlement(EntitlementSource.TRIAL, True, 720, True, True, None)
JAN_4 = datetime(2027, 1, 4, 9, tzinfo=UTC)


def _plan(status: str, *, auto_renew: bool = True) -> dict[str, object]:
    return {
        "name": "Kasa Care Premium",
        "status": status,
        "auto_renew": auto_renew,
        "trial_end": JAN_4 if status == "trialing" else None,
        "period_end": JAN_4,
    }


def test_issue_14_item_4_entitlement_words_name_the_plan_and_its_next_date() -> None:
    assert entitlement_words(TRIAL, _plan("trialing")) == (
        "Free trial of Kasa Care Premium: last 30 days, until 4 Jan 2027"
    )
    assert entitlement_words(TRIAL, _plan("trialing", auto_renew=False)) == (
        "Free trial of Kasa Care Premium: last 30 days, until 4 Jan 2027 (then it ends)"
    )
    assert entitlement_words(PREMIUM, _plan("active")) == (
        "Kasa Care Premium: last 30 days, renews 4 Jan 2027"
    )
    assert entitlement_words(PREMIUM, _plan("active", auto_renew=False)) == (
        "Kasa Care Premium: last 30 days, ends 4 Jan 2027"
    )
    assert entitlement_words(PREMIUM, _plan("past_due")) == (
        "Kasa Care Premium: last 30 days (the last payment failed: see Billing)"
    )


def test_issue_14_item_4_countries_by_name_in_the_readers_language() -> None:
    assert country("GB") == "United Kingdom"
    assert country("DE", "de") == "Deutschland"
    assert country("US", "not-a-language") == "United States"
    assert country_choices(["US", "GB", "AU"]) == [
        ("AU", "Australia"),
        ("GB", "United Kingdom"),
        ("US", "United States"),
    ]


def test_issue_14_item_4_the_sign_up_form_lists_countries_by_name(browser: TestClient) -> None:
    form = browser.get("/signup").text
    assert '<option value="GB" >United Kingdom</option>' in form
    assert '<option value="US" selected>United States</option>' in form
