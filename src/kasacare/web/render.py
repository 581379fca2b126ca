"""Rendering: one Jinja2 environment, filters that speak like a person, the page helper."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context as JinjaContext
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account, Role
from kasacare.entitlements.rules import Entitlement, EntitlementSource
from kasacare.kit.money import Money, format_money
from kasacare.kit.zones import local
from kasacare.notifications.service import unread_count
from kasacare.web import kept_forms
from kasacare.web.messages import NOTICES, banners, fix_for
from kasacare.web.session import CSRF_FIELD, csrf_token, finish

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def day(moment: datetime | None, zone: str | None = None) -> str:
    """`4 Jan 2027`: the date in `zone` (the account's time zone) or UTC."""
    if moment is None:
        return ""
    return (local(moment, zone) if zone else moment).strftime("%-d %b %Y")


def when(moment: datetime | None, zone: str | None = None) -> str:
    """`4 Jan 2027, 09:00 GMT`: the time in `zone` (the account's time zone) or UTC."""
    if moment is None:
        return ""
    seen = local(moment, zone) if zone else moment
    return f"{seen:%-d %b %Y, %H:%M} {seen.tzname() or 'UTC'}"


def money(amount: int | Money | dict[str, Any], currency: str | None = None) -> str:
    if isinstance(amount, dict):
        return format_money(Money(amount["amount"], amount["currency"]))
    if isinstance(amount, Money):
        return format_money(amount)
    assert currency is not None
    return format_money(Money(amount, currency))


def history(hours: int) -> str:
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hours"


def entitlement_words(
    entitlement: Entitlement, plan: dict[str, Any] | None = None, zone: str | None = None
) -> str:
    """ "Free plan: last 2 days, until 12 Mar 2028", "Free trial of Kasa Care Premium: last 30
    days, until 4 Jan 2027", ...; `plan`: the subscription that covers the camera (`name`,
    `status`, `auto_renew`, `trial_end`, `period_end`, already in the account's zone), for
    its name and dates; `zone`: the account's time zone, for the free plan's end."""
    source = entitlement.source
    if source is EntitlementSource.NONE:
        # Issue 14 item 4: a microSD card records locally; it never gives cloud recording.
        if entitlement.free_plan_ends_at is not None:
            ended = day(entitlement.free_plan_ends_at, zone)
            return (
                f"No cloud recording: the free plan ended on {ended}."
                " Subscribe to Kasa Care to record to the cloud"
            )
        return (
            "No cloud recording on this model's free plan (it records to its microSD card)."
            " Subscribe to Kasa Care to record to the cloud"
        )
    if source is EntitlementSource.FREE:
        return (
            f"Free plan: last {history(entitlement.history_hours)}, "
            f"until {day(entitlement.free_plan_ends_at, zone)}"
        )
    if plan is not None and source in (
        EntitlementSource.TRIAL,
        EntitlementSource.PLUS,
        EntitlementSource.PREMIUM,
    ):
        return f"{_plan_words(plan)}: last {history(entitlement.history_hours)}{_until(plan)}"
    names = {
        EntitlementSource.TRIAL: "Free trial",
        EntitlementSource.PLUS: "Plus",
        EntitlementSource.PREMIUM: "Premium",
        EntitlementSource.LEGACY: "Legacy plan",
    }
    return f"{names[source]}: {history(entitlement.history_hours)}"


def _plan_words(plan: dict[str, Any]) -> str:
    if plan["status"] == "trialing":
        return f"Free trial of {plan['name']}"
    return str(plan["name"])


def _until(plan: dict[str, Any]) -> str:
    if plan["status"] == "trialing" and plan["trial_end"] is not None:
        ends = plan["trial_end"]
        return f", until {day(ends)}" + ("" if plan["auto_renew"] else " (then it ends)")
    if plan["status"] == "past_due":
        return " (the last payment failed: see Billing)"
    verb = "renews" if plan["auto_renew"] else "ends"
    return f", {verb} {day(plan['period_end'])}"


def country(code: str | None, language: str = "en") -> str:
    """A country's name in the reader's language (CLDR data through Babel), not its code."""
    if not code:
        return ""
    from babel import Locale, UnknownLocaleError  # lazily: CLDR data only once a page needs it

    try:
        locale = Locale.parse(language, sep="-")
    except (ValueError, UnknownLocaleError):
        locale = Locale("en")
    name: str = locale.territories.get(code, code)
    return name


def country_choices(codes: Iterable[str], language: str = "en") -> list[tuple[str, str]]:
    """(code, name) for a country menu, by name in the reader's language."""
    return sorted(((code, country(code, language)) for code in codes), key=lambda c: c[1])


@pass_context
def model_label(page: JinjaContext, model_id: str) -> str:
    """`Kasa Cam Outdoor (KC200)` from the catalog of the app serving the page."""
    label: str = page["request"].app.state.context.catalog.model_label(model_id)
    return label


templates.env.filters.update(
    day=day, when=when, money=money, history=history, country=country, model_label=model_label
)
templates.env.globals.update(entitlement_words=entitlement_words, CSRF_FIELD=CSRF_FIELD)


def page(
    request: Request,
    session: Session,
    name: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    error, notice = banners(request.query_params)
    form = kept_forms.kept(request)
    if form is not None:
        context["kept_form"] = form
        notice = NOTICES["form_kept"]
    if context.get("error") is None:  # a page's own refusal first, else the address's
        context["error"] = error
    code = context.pop("error_code", None) or request.query_params.get("problem")
    context.setdefault("error_fix", fix_for(code) if context["error"] else None)
    context.setdefault("notice", notice)
    context["csrf"] = csrf_token(request)
    account = context.get("account")
    if isinstance(account, Account) and account.role is Role.OWNER:
        context["unread"] = unread_count(session, account.id)  # the nav's count
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if form is not None:
        kept_forms.forget(response)  # shown once
    kept_forms.forget_stale_refused(request, response)  # post/redirect/get (issue 14 item 4)
    secure = request.app.state.context.settings.cookie_secure
    finish(request, response, secure=secure)
    session.commit()  # the CSRF secret may have been created on first use
    return response
