"""The catalog's shape, validated once at start (pydantic, frozen)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from kasacare.kit.calendar import Cycle
from kasacare.kit.money import Money

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class CardBrand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    MAESTRO = "maestro"
    AMEX = "amex"


class Feature(StrEnum):
    CLOUD_RECORDING = "cloud_recording"
    MANUAL_RECORDING = "manual_recording"
    CLIP_DOWNLOAD = "clip_download"
    RICH_NOTIFICATIONS = "rich_notifications"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CameraModel(_Frozen):
    """A camera model and its free cloud plan (SPEC F1, F5). 0 hours: no free recording."""

    id: str = ""
    #: The product name people know it by ("Kasa Cam Outdoor"); optional (issue 14 item 4).
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    hardware_versions: tuple[str, ...] = ()
    kit_of: str | None = None
    free_history_hours: Annotated[int, Field(ge=0, le=24 * 366)] | None = None
    free_period_years: Annotated[int, Field(ge=1, le=10)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kit_of is not None:
            if self.free_history_hours is not None or self.free_period_years is not None:
                raise ValueError("a kit takes its free plan from kit_of; set neither field")
            return self
        if self.free_history_hours is None:
            raise ValueError("free_history_hours is required (0 for no free cloud recording)")
        if self.free_history_hours > 0 and self.free_period_years is None:
            raise ValueError("free_period_years is required when free_history_hours > 0")
        if self.free_history_hours == 0 and self.free_period_years is not None:
            raise ValueError("free_period_years must be absent without free history")
        return self

    @property
    def has_free_plan(self) -> bool:
        return bool(self.free_history_hours)


class PlanPrices(_Frozen):
    monthly: PositiveInt
    annual: PositiveInt


class Plan(_Frozen):
    id: str = ""
    name: str
    per_camera: bool
    max_cameras: PositiveInt | None = None
    history_days: PositiveInt
    features: tuple[Feature, ...]
    prices: dict[CurrencyCode, PlanPrices]

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.per_camera and self.max_cameras is not None:
            raise ValueError("a per-camera plan has no camera limit")
        return self

    def price(self, currency: str, cycle: Cycle) -> Money | None:
        """Full-period price (per camera for a per-camera plan), or None if not sold there."""
        prices = self.prices.get(currency)
        if prices is None:
            return None
        amount = prices.monthly if cycle is Cycle.MONTHLY else prices.annual
        return Money(amount, currency)


class LegacyPlan(_Frozen):
    id: str = ""
    name: str
    history_days: PositiveInt


Percent = Annotated[str, Field(pattern=r"^\d{1,2}(\.\d{1,3})?$")]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class TaxCountry(_Frozen):
    """A country's tax (issue 14 item 1): its name, whether catalog prices include it, and
    its rate, or (exclusive countries) the rate of each region (state, province)."""

    name: Annotated[str, Field(min_length=1, max_length=20)]
    inclusive: bool
    rate: Percent | None = None
    regions: dict[RegionCode, Percent] = {}
    #: A member of the EU VAT area: a VAT number of another member state than the
    #: seller's is a reverse charge.
    eu: bool = False

    @model_validator(mode="after")
    def _rates(self) -> Self:
        if self.inclusive and (self.rate is None or self.regions):
            raise ValueError("an inclusive tax has one rate and no regions")
        if not self.inclusive and not self.regions:
            raise ValueError("an exclusive tax needs the rates of its regions")
        if self.eu and not self.inclusive:
            raise ValueError("EU VAT is included in prices")
        return self


class TaxTable(_Frozen):
    #: The EU member state where the seller is established for VAT.
    seller_country: CountryCode
    countries: dict[CountryCode, TaxCountry] = Field(min_length=1)

    @model_validator(mode="after")
    def _seller(self) -> Self:
        seller = self.countries.get(self.seller_country)
        if seller is None or not seller.eu:
            raise ValueError("seller_country must be an EU member of the table")
        return self


class Catalog(_Frozen):
    trial_days: Annotated[int, Field(ge=1, le=365)]
    card_brands: tuple[CardBrand, ...] = Field(min_length=1)
    countries: dict[CountryCode, CurrencyCode] = Field(min_length=1)
    models: dict[str, CameraModel] = Field(min_length=1)
    plans: dict[str, Plan] = Field(min_length=1)
    legacy_plans: dict[str, LegacyPlan] = {}
    tax: TaxTable

    def model(self, model_id: str) -> CameraModel | None:
        return self.models.get(model_id.strip().upper())

    def model_label(self, model_id: str) -> str:
        """How pages name a model (issue 14 item 4): `Kasa Cam Outdoor (KC200)`, or the code
        alone for a model without a name (or one no longer in the catalog)."""
        model = self.model(model_id)
        return f"{model.name} ({model.id})" if model and model.name else model_id

    def currency_for(self, country: str) -> str | None:
        return self.countries.get(country.strip().upper())
