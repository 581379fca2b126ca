"""Load the catalog file once at start; a broken file stops the start, naming entry and field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kasacare.catalog.schemas import Catalog
from kasacare.kit.errors import KasaCareError

SHIPPED_CATALOG = Path(__file__).with_name("catalog.toml")


class CatalogError(KasaCareError):
    code = "catalog_invalid"
    title = "Invalid catalog"


def load_catalog(path: Path | None = None) -> Catalog:
    path = path or SHIPPED_CATALOG
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CatalogError(f"catalog {path}: {error}") from None
    return parse_catalog(raw, source=str(path))


def parse_catalog(raw: dict[str, Any], *, source: str = "catalog") -> Catalog:
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise CatalogError(f"catalog {source}: {where}: {first['msg']}") from None
    return _resolve(catalog, source)


def _resolve(catalog: Catalog, source: str) -> Catalog:
    """Give every entry its id and kits their parent's free plan; check cross references."""
    models = {}
    for model_id, model in catalog.models.items():
        row = model
        if model.kit_of is not None:
            parent = catalog.models.get(model.kit_of)
            if parent is None or parent.kit_of is not None:
                raise CatalogError(
                    f"catalog {source}: models.{model_id}.kit_of: "
                    f"{model.kit_of!r} is not a camera model of its own"
                )
            # A kit is sold under its own name, never its camera's.
            kit_own = {"hardware_versions": model.hardware_versions, "name": model.name}
            row = parent.model_copy(update=kit_own)
        models[model_id] = row.model_copy(update={"id": model_id, "kit_of": model.kit_of})
    for country, currency in catalog.countries.items():
        if not any(currency in plan.prices for plan in catalog.plans.values()):
            raise CatalogError(
                f"catalog {source}: countries.{country}: no plan has a price in {currency}"
            )
    for country in catalog.countries:
        if country not in catalog.tax.countries:
            raise CatalogError(f"catalog {source}: tax.countries: no row for {country}")
    return catalog.model_copy(
        update={
            "models": models,
            "plans": {k: v.model_copy(update={"id": k}) for k, v in catalog.plans.items()},
            "legacy_plans": {
                k: v.model_copy(update={"id": k}) for k, v in catalog.legacy_plans.items()
            },
        }
    )
