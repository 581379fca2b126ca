"""The catalog file (SPEC section 1): shipped values, validation, and the plans API."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kasacare.catalog.loader import SHIPPED_CATALOG, CatalogError, load_catalog, parse_catalog
from kasacare.catalog.schemas import CardBrand
from kasacare.kit.calendar import Cycle
from kasacare.kit.money import Money
from tests.factories import owner

# SPEC section 1, written out independently of the catalog file.
SPEC_FREE_PLANS = {
    # model: (free history hours, free period years)
    "KC100": (12, 2),
    "KC110": (12, 2),
    "KC120": (48, 2),
    "KC200": (48, 2),
    "KC300": (48, 1),
    "KC300S2": (48, 1),
    "KC310": (12, 1),
    "KC310S2": (12, 1),
}
SPEC_NO_FREE_PLAN = {"KC105", "KC115", "EC60", "EC70", "KC400", "KC410S", "KC420WS"}
SPEC_PRICES = {
    # (plan, currency): (monthly, annual) in minor units
    ("plus", "USD"): (399, 3999),
    ("plus", "GBP"): (349, 3499),
    ("plus", "EUR"): (399, 3999),
    ("plus", "CAD"): (499, 4999),
    ("plus", "AUD"): (549, 5499),
    ("premium", "USD"): (1099, 10999),
    ("premium", "GBP"): (999, 9999),
    ("premium", "EUR"): (1099, 10999),
    ("premium", "CAD"): (1399, 13999),
    ("premium", "AUD"): (1599, 15999),
}


def test_q12_f1_shipped_catalog_equals_spec_section_1() -> None:
    catalog = load_catalog(SHIPPED_CATALOG)
    free = {
        model.id: (model.free_history_hours, model.free_period_years)
        for model in catalog.models.values()
        if model.has_free_plan
    }
    assert free == SPEC_FREE_PLANS
    assert {m.id for m in catalog.models.values() if not m.has_free_plan} == SPEC_NO_FREE_PLAN
    assert catalog.models["KC300S2"].kit_of == "KC300"
    assert catalog.models["KC310S2"].kit_of == "KC310"
    prices = {
        (plan.id, currency): (p.monthly, p.annual)
        for plan in catalog.plans.values()
        for currency, p in plan.prices.items()
    }
    assert prices == SPEC_PRICES
    assert catalog.plans["plus"].per_camera and catalog.plans["plus"].max_cameras is None
    assert not catalog.plans["premium"].per_camera and catalog.plans["premium"].max_cameras == 10
    assert {p.history_days for p in catalog.plans.values()} == {30}
    assert {k: v.history_days for k, v in catalog.legacy_plans.items()} == {
        "legacy-plus": 14,
        "legacy-premium": 30,
    }
    assert catalog.trial_days == 30
    assert set(catalog.card_brands) == {
        CardBrand.VISA,
        CardBrand.MASTERCARD,
        CardBrand.MAESTRO,
        CardBrand.AMEX,
    }
    assert {"USD", "GBP", "EUR", "CAD", "AUD"} <= set(catalog.countries.values())


def test_test_catalog_prices_are_literal_cents(catalog: Any) -> None:
    assert catalog.plans["plus"].price("USD", Cycle.MONTHLY) == Money(399, "USD")
    assert catalog.plans["premium"].price("GBP", Cycle.ANNUAL) == Money(9999, "GBP")
    assert catalog.plans["plus"].price("JPY", Cycle.MONTHLY) is None


def _raw() -> dict[str, Any]:
    return tomllib.loads(SHIPPED_CATALOG.read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda raw: raw["models"]["KC120"].update(free_history_hours="lots"),
            "models.KC120.free_history_hours",
        ),
        (
            lambda raw: raw["models"]["KC110"].pop("free_period_years"),
            "models.KC110: Value error, free_period_years is required",
        ),
        (
            lambda raw: raw["plans"]["plus"]["prices"]["USD"].update(monthly=-1),
            "plans.plus.prices.USD.monthly",
        ),
        (
            lambda raw: raw["models"]["KC300S2"].update(kit_of="KC999"),
            "models.KC300S2.kit_of: 'KC999' is not a camera model of its own",
        ),
        (lambda raw: raw.pop("trial_days"), "trial_days: Field required"),
        (lambda raw: raw["countries"].update(JP="JPY"), "countries.JP: no plan has a price in JPY"),
        (lambda raw: raw.update(card_brands=["visa", "discover"]), "card_brands.1"),
    ],
)
def test_broken_catalog_names_entry_and_field(mutate: Any, message: str) -> None:
    raw = copy.deepcopy(_raw())
    mutate(raw)
    with pytest.raises(CatalogError, match="^catalog x: " + message.replace(".", r"\.")):
        parse_catalog(raw, source="x")


def test_unreadable_catalog_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "catalog.toml"
    broken.write_text("trial_days = [")
    with pytest.raises(CatalogError, match=str(broken)):
        load_catalog(broken)


def test_plans_list_plus_and_premium_in_usd_without_a_token(client: TestClient) -> None:
    body = client.get("/v1/plans").json()
    plans = {item["id"]: item for item in body["items"]}
    assert set(plans) == {"plus", "premium"}
    assert plans["plus"]["history_days"] == 30
    assert plans["plus"]["per_camera"] is True
    assert plans["plus"]["prices"] == {
        "monthly": {"amount": 399, "currency": "USD"},
        "annual": {"amount": 3999, "currency": "USD"},
    }
    assert plans["premium"]["max_cameras"] == 10
    assert plans["premium"]["prices"]["annual"] == {"amount": 10999, "currency": "USD"}


def test_plans_are_priced_in_the_accounts_currency(client: TestClient) -> None:
    _, headers = owner(client, "gb@example.com", country="GB")
    plans = {p["id"]: p for p in client.get("/v1/plans", headers=headers).json()["items"]}
    assert plans["plus"]["prices"]["monthly"] == {"amount": 349, "currency": "GBP"}
    assert plans["premium"]["prices"]["monthly"] == {"amount": 999, "currency": "GBP"}
    aud = client.get("/v1/plans", params={"currency": "AUD"}).json()["items"]
    assert aud[0]["prices"]["annual"] == {"amount": 5499, "currency": "AUD"}


def test_plans_in_an_unsold_currency_are_refused(client: TestClient) -> None:
    response = client.get("/v1/plans", params={"currency": "JPY"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_camera_models_lists_every_model_with_its_free_plan(client: TestClient) -> None:
    models = {m["id"]: m for m in client.get("/v1/camera-models").json()["items"]}
    assert set(models) == set(SPEC_FREE_PLANS) | SPEC_NO_FREE_PLAN
    assert models["KC300S2"]["free_history_hours"] == 48
    assert models["KC300S2"]["kit_of"] == "KC300"
    assert models["KC105"]["free_cloud_recording"] is False
    # Issue 14 item 4: the product name, added to each entry; null where the catalog has none.
    assert models["KC200"]["name"] == "Kasa Cam Outdoor"
    assert models["KC310S2"]["name"] is None


def test_issue_14_item_4_shipped_models_carry_product_names_kits_their_own() -> None:
    catalog = load_catalog(SHIPPED_CATALOG)
    assert catalog.model_label("KC200") == "Kasa Cam Outdoor (KC200)"
    assert catalog.model_label(" kc120") == "Kasa Cam (KC120)"
    assert catalog.models["KC300S2"].name == "Kasa Cam Outdoor Wire-Free Kit"
    # A kit is sold under its own name, never its camera's; without one, its code alone.
    assert catalog.models["KC310"].name == "Kasa Cam Outdoor Wire-Free 2K"
    assert catalog.models["KC310S2"].name is None
    assert catalog.model_label("KC310S2") == "KC310S2"
    assert catalog.model_label("KC999") == "KC999"  # a code no longer in the catalog
    unnamed = {m.id for m in catalog.models.values() if m.name is None}
    assert unnamed == {"KC310S2"}


def test_issue_14_item_4_a_model_name_is_optional_and_one_line() -> None:
    raw = _raw()
    raw["models"]["KC120"].pop("name")
    assert parse_catalog(raw, source="test").models["KC120"].name is None
    raw["models"]["KC120"]["name"] = ""
    with pytest.raises(CatalogError, match=r"models\.KC120\.name"):
        parse_catalog(raw, source="test")


# Issue 14 item 1, written out independently of the catalog file: EU standard VAT rates on
# 1 January 2026 for the member states the catalog sells in.
EU_STANDARD_VAT = {
    "AT": "20",
    "BE": "21",
    "CY": "19",
    "DE": "19",
    "EE": "24",
    "ES": "21",
    "FI": "25.5",
    "FR": "20",
    "GR": "24",
    "HR": "25",
    "IE": "23",
    "IT": "22",
    "LT": "21",
    "LU": "17",
    "LV": "21",
    "MT": "18",
    "NL": "21",
    "PT": "23",
    "SI": "22",
    "SK": "23",
}


def test_issue14_shipped_tax_table() -> None:
    tax = load_catalog(SHIPPED_CATALOG).tax
    rows = tax.countries
    assert (rows["GB"].name, rows["GB"].rate, rows["GB"].inclusive) == ("VAT", "20", True)
    assert (rows["AU"].name, rows["AU"].rate, rows["AU"].inclusive) == ("GST", "10", True)
    eu = {code: row.rate for code, row in rows.items() if row.eu}
    assert eu == EU_STANDARD_VAT
    assert all(rows[code].inclusive and rows[code].name == "VAT" for code in eu)
    assert tax.seller_country in eu
    for country in ("US", "CA"):
        assert not rows[country].inclusive and rows[country].rate is None
    assert len(rows["US"].regions) == 51  # 50 states and DC
    assert (rows["US"].regions["CA"], rows["US"].regions["NY"], rows["US"].regions["OR"]) == (
        "7.25",
        "4",
        "0",
    )
    assert (rows["CA"].regions["ON"], rows["CA"].regions["QC"], rows["CA"].regions["AB"]) == (
        "13",
        "14.975",
        "5",
    )
    assert len(rows["CA"].regions) == 13  # 10 provinces, 3 territories
