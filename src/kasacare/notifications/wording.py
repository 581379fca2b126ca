"""What a notification says, for a person (issue 14 item 3): one wording for the app and the
mail. Pure: the facts a notification's data only names by id (camera names, the plan's name,
the document's number and page, the account's time zone) come resolved in `Facts`
(`notifications.facts` reads them). Every notice names its plan and cameras, its amount, its
dates in the account's time zone, and links to its document or to the page that acts on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kasacare.kit.calendar import require_utc
from kasacare.kit.money import Money, format_money
from kasacare.kit.zones import DEFAULT_ZONE, local
from kasacare.notifications.models import Kind


@dataclass(frozen=True, slots=True)
class Link:
    """A page of the app: a path (the mail prefixes `KASACARE_PUBLIC_URL`) and its label."""

    label: str
    path: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What a notification's data names, resolved: its plan's name (with the cycle), its
    cameras' names, the first charge a reminder announces, and its document."""

    zone: str = DEFAULT_ZONE
    plan: str | None = None
    cycle: str | None = None  # monthly, annual
    cameras: tuple[str, ...] = ()
    camera_names: Mapping[str, str] = field(default_factory=dict)
    next_charge: Money | None = None
    document: Link | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    title: str
    body: str
    link: Link


PLANS_PAGE = Link("Open Kasa Care", "/app/kasa-care")
BILLING_PAGE = Link("Open Billing", "/app/billing")
CARD_PAGE = Link("Update your card", "/app/billing#card")
ACTIVITY_PAGE = Link("Open the activity center", "/app/activity")


def describe(kind: Kind, data: Mapping[str, Any], created_at: datetime, facts: Facts) -> Notice:
    """The title (the mail's subject), the body and the link of one notification."""
    zone = facts.zone
    plan = facts.plan or _plan_fallback(data)
    billed = f"{plan} ({facts.cycle})" if facts.cycle else plan
    covered = _covering(facts.cameras)
    if kind is Kind.TRIAL_ENDING:
        ends = _instant(data["trial_end"])
        charge = (
            f"The first payment, {format_money(facts.next_charge)}, is taken from your card "
            f"on file on {day(ends, zone)} unless you cancel before then."
            if facts.next_charge is not None
            else "The first payment is taken from your card on file when the trial ends, "
            "unless you cancel before then."
        )
        return Notice(
            f"Your Kasa Care trial ends on {day(ends, zone)}",
            f"Your free trial of {billed}{covered} ends on {moment(ends, zone)}.\n\n{charge} "
            "To keep your plan, you need to do nothing. If you would rather not continue, "
            "cancel in the Kasa app before then and you will not be charged.",
            PLANS_PAGE,
        )
    if kind is Kind.ANNUAL_RENEWAL:
        renews = _instant(data["renews_at"])
        price = f" for {format_money(facts.next_charge)}" if facts.next_charge else ""
        return Notice(
            f"Your Kasa Care plan renews on {day(renews, zone)}",
            f"Your annual {plan}{covered} renews on {moment(renews, zone)} for another "
            f"year{price}. Any credit on your balance is used first, then your card on file "
            "is charged.\n\nTo change or cancel your plan, open Kasa Care in the Kasa app "
            "before then.",
            PLANS_PAGE,
        )
    if kind is Kind.CARD_EXPIRING:
        # `expires_at` is the first instant the card no longer works: valid the month before.
        last_valid = _instant(data["expires_at"]) - timedelta(microseconds=1)
        return Notice(
            f"Your card ending in {data['last4']} expires soon",
            f"The card ending in {data['last4']} that pays for {plan}{covered} is valid "
            f"through {last_valid:%B %Y}.\n\n"
            "To keep your plan running without a break, add a new card in the Kasa app "
            "before then.",
            CARD_PAGE,
        )
    if kind is Kind.PAYMENT_FAILED:
        amount = money(data["amount"])
        retry = data.get("next_retry_at")
        last_try = data.get("ends_at")
        until = (
            f" If every try fails, {plan} ends on {moment(_instant(last_try), zone)}."
            if last_try
            else ""
        )
        then = (
            f"We will try again on {moment(_instant(retry), zone)}. Your cameras keep their "
            f"plan until then.{until} If you replace your card in the Kasa app, we try again "
            "at once and the new card pays the invoice."
            if retry
            else "That was our last try, so your subscription has ended."
        )
        return Notice(
            f"We couldn't take your Kasa Care payment of {amount}",
            f"We tried to charge {amount} to your card on file for invoice "
            f"{data['invoice_number']} ({plan}{covered}), but the payment did not go "
            f"through.\n\n{then}",
            facts.document or CARD_PAGE,
        )
    if kind is Kind.PAYMENT_RECEIVED:
        amount = money(data["amount"])
        paid = created_at if data.get("paid_at") is None else _instant(data["paid_at"])
        period = data.get("period_end")
        covers = f", covering until {day(_instant(period), zone)}" if period else ""
        return Notice(
            f"Your Kasa Care receipt for {amount}",
            f"Thank you: we received {amount} for {billed}{covered} on {day(paid, zone)} "
            f"(invoice {data['number']}{covers}).\n\n{paid_how(data)}.",
            facts.document or BILLING_PAGE,
        )
    if kind is Kind.REFUND_ISSUED:
        amount = money(data["amount"])
        return Notice(
            f"Your Kasa Care refund of {amount}",
            f"We have refunded {amount} for {plan}{covered} to your card (credit note "
            f"{data['number']}) on {day(created_at, zone)}. Depending on your bank, it can "
            "take a few days to show on your statement.",
            facts.document or BILLING_PAGE,
        )
    if kind is Kind.CREDIT_ADDED:
        amount = money(data["amount"])
        return Notice(
            f"{amount} credit added to your Kasa Care balance",
            f"We have added {amount} for {plan}{covered} to your Kasa Care credit balance "
            f"(credit note {data['number']}) on {day(created_at, zone)}. It pays your next "
            "bill before your card is charged, and it never expires.",
            facts.document or BILLING_PAGE,
        )
    if kind is Kind.SUBSCRIPTION_ENDING:
        ends = _instant(data["ends_at"])
        return Notice(
            f"Your {plan} subscription ends on {day(ends, zone)}",
            f"You turned off auto-renew, so your {plan} subscription{covered} ends on "
            f"{moment(ends, zone)} and you will not be charged again. Video history beyond "
            "your cameras' free plan is erased when it ends.\n\n"
            "To keep your plan, turn auto-renew back on in Kasa Care before then.",
            PLANS_PAGE,
        )
    if kind is Kind.SUBSCRIPTION_ENDED:
        why = _ENDED_BECAUSE.get(str(data.get("reason")), "It ended on {day}.")
        return Notice(
            f"Your {plan} subscription has ended",
            why.format(day=day(created_at, zone), plan=plan + covered) + "\n\n"
            "Your cameras go back to their free cloud recording where it still runs; "
            "otherwise they no longer record to the cloud. Any refund comes in a separate "
            "message.",
            PLANS_PAGE,
        )
    if kind is Kind.HISTORY_ERASED:
        erased = [
            (facts.camera_names.get(str(camera["camera_id"]), "A removed camera"), camera)
            for camera in data["cameras"]
        ]
        lines = [
            f"- {name}: video recorded before {moment(_instant(camera['before']), zone)}"
            for name, camera in erased
        ]
        return Notice(
            f"Video history of {_names([name for name, _ in erased])} was erased",
            "After the change to your plan, this video history is no longer stored and "
            "cannot be recovered:\n\n" + "\n".join(lines),
            ACTIVITY_PAGE,
        )
    raise ValueError(f"no wording for notification kind {kind!r}")


_ENDED_BECAUSE = {
    "cancelled": "As you asked, your {plan} subscription was cancelled on {day}.",
    "dunning": (
        "We could not take the payment for your {plan} subscription after several tries, "
        "so it ended on {day}."
    ),
    "migrated": "Your {plan} subscription ended on {day}, when you moved to the new plans.",
    "not_renewed": "As you chose, your {plan} subscription was not renewed and ended on {day}.",
    "support": "Our support team ended your {plan} subscription on {day}.",
}


def paid_how(data: Mapping[str, Any]) -> str:
    """ "Paid from credit £2.96, charged to Visa •4242 £0.47", as on the invoice."""
    currency = str(data["amount"]["currency"])
    credit, charged = int(data.get("credit_used", 0)), int(data.get("charged", 0))
    parts = []
    if credit:
        parts.append(f"paid from credit {format_money(Money(credit, currency))}")
    if charged:
        card = data.get("card") or "your card"
        parts.append(f"charged to {card} {format_money(Money(charged, currency))}")
    text = ", ".join(parts) or "nothing to pay"
    return text[0].upper() + text[1:]


def day(at: datetime, zone: str = DEFAULT_ZONE) -> str:
    """`4 January 2027`, the local date in `zone`."""
    seen = local(at, zone)
    return f"{seen.day} {seen:%B %Y}"


def moment(at: datetime, zone: str = DEFAULT_ZONE) -> str:
    """`4 January 2027 at 09:00 GMT`: the local time with its zone's abbreviation."""
    seen = local(at, zone)
    return f"{day(at, zone)} at {seen:%H:%M} {seen.tzname()}"


def money(value: Mapping[str, Any]) -> str:
    return format_money(Money(int(value["amount"]), str(value["currency"])))


def _covering(cameras: Sequence[str]) -> str:
    return f" for {_names(cameras)}" if cameras else ""


def _names(names: Sequence[str]) -> str:
    """`Front door`, `Front door and Garden`, `Front door, Garden and Hall`: in alphabetical
    order, whatever order the data lists them in."""
    if not names:
        return "your cameras"
    names = sorted(names, key=str.casefold)
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _plan_fallback(data: Mapping[str, Any]) -> str:
    plan = data.get("plan")
    if not plan:
        return "your Kasa Care plan"
    return "Kasa Care " + str(plan).replace("-", " ").title()


def _instant(value: str) -> datetime:
    return require_utc(datetime.fromisoformat(value))
