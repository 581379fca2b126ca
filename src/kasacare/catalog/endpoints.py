"""Catalog routes: plans with prices in the caller's currency, and camera models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from kasacare.accounts.dependencies import MaybeAccount
from kasacare.catalog.schemas import Feature
from kasacare.context import Context
from kasacare.kit.calendar import Cycle
from kasacare.kit.errors import ValidationFailed
from kasacare.kit.http import problem_responses
from kasacare.kit.schemas import MoneyRead

router = APIRouter(tags=["catalog"])


class PlanPricesRead(BaseModel):
    monthly: MoneyRead
    annual: MoneyRead


class PlanRead(BaseModel):
    id: str
    name: str
    per_camera: bool
    max_cameras: int | None
    history_days: int
    prices: PlanPricesRead
    features: list[Feature]
    trial_days: int


class PlanList(BaseModel):
    items: list[PlanRead]


class CameraModelRead(BaseModel):
    id: str
    name: str | None  # the product name, if the catalog has one (issue 14 item 4)
    hardware_versions: list[str]
    kit_of: str | None
    free_cloud_recording: bool
    free_history_hours: int
    free_period_years: int | None


class CameraModelList(BaseModel):
    items: list[CameraModelRead]


@router.get("/v1/plans", response_model=PlanList, responses=problem_responses(401, 422))
def list_plans(
    context: Context,
    account: MaybeAccount,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
) -> PlanList:
    """New plans priced in `currency`, else the account's currency, else USD."""
    catalog = context.catalog
    chosen = currency or (account.currency if account and account.currency else "USD")
    if chosen not in set(catalog.countries.values()):
        raise ValidationFailed(f"Kasa Care is not sold in {chosen}", field="currency")
    items = []
    for plan in catalog.plans.values():
        monthly, annual = plan.price(chosen, Cycle.MONTHLY), plan.price(chosen, Cycle.ANNUAL)
        if monthly is None or annual is None:
            continue  # not sold in this currency
        items.append(
            PlanRead(
                id=plan.id,
                name=plan.name,
                per_camera=plan.per_camera,
                max_cameras=plan.max_cameras,
                history_days=plan.history_days,
                prices=PlanPricesRead(monthly=MoneyRead.of(monthly), annual=MoneyRead.of(annual)),
                features=list(plan.features),
                trial_days=catalog.trial_days,
            )
        )
    return PlanList(items=items)


@router.get("/v1/camera-models", response_model=CameraModelList)
def list_camera_models(context: Context) -> CameraModelList:
    return CameraModelList(
        items=[
            CameraModelRead(
                id=model.id,
                name=model.name,
                hardware_versions=list(model.hardware_versions),
                kit_of=model.kit_of,
                free_cloud_recording=model.has_free_plan,
                free_history_hours=model.free_history_hours or 0,
                free_period_years=model.free_period_years,
            )
            for model in context.catalog.models.values()
        ]
    )
