"""A use case's billing plan: its quote (C5) and the ordered effects that `apply` carries out.

Every `plan_*` function only reads (under the account's lock) and answers a `BillingPlan`;
a preview shows its quote and applies nothing. The effects say what the change writes, in
the order it writes it: documents are numbered in that order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from kasacare.billing.charging import Pays
from kasacare.billing.rules import LineDraft, tax_total
from kasacare.billing.service import CancelRefund
from kasacare.billing.tax import TaxTreatment
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Plan
from kasacare.entitlements.erasure import Erasure
from kasacare.kit.calendar import Cycle
from kasacare.kit.money import Money
from kasacare.legacy.service import Termination
from kasacare.renewals.ending import Ending
from kasacare.subscriptions.models import EndReason, PlanId, Status, Subscription
from kasacare.subscriptions.quote import Quote


@dataclass(frozen=True, slots=True)
class TerminateLegacy:
    """L3, L4: every live legacy subscription ends with its refund; legacy closes (L5)."""

    termination: Termination


@dataclass(frozen=True, slots=True)
class StartTrial:
    """T1: the account's one trial starts now."""


@dataclass(frozen=True, slots=True)
class CreateSubscription:
    """A new subscription (its id chosen by the plan, so its invoice can name it)."""

    id: uuid.UUID
    plan: Plan
    cycle: Cycle
    cameras: tuple[Camera, ...]
    price: Money
    status: Status
    start: datetime
    end: datetime
    #: The tax its first period is invoiced at (a trial: the tax when it starts).
    tax: TaxTreatment
    trial_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssueInvoice:
    """A paid invoice of these lines: the balance first, then the card through the payer
    for what it `pays` (the payment attempt's purpose)."""

    subscription_id: uuid.UUID
    lines: tuple[LineDraft, ...]
    pays: Pays


@dataclass(frozen=True, slots=True)
class IssueCredit:
    """A credit note of these lines (as credited); `goodwill`: what goodwill had paid."""

    subscription_id: uuid.UUID
    lines: tuple[LineDraft, ...]
    goodwill: Money


@dataclass(frozen=True, slots=True)
class Refund:
    """C1, M9: the unused time and (or) the balance back to the card payments."""

    refund: CancelRefund


@dataclass(frozen=True, slots=True)
class EndCoverage:
    """C1: the subscription's paid coverage ends (`renewals.ending`)."""

    ending: Ending


@dataclass(frozen=True, slots=True)
class EndSubscription:
    """The subscription becomes history, with no refund of its own (P5: a cycle change)."""

    subscription: Subscription
    reason: EndReason


@dataclass(frozen=True, slots=True)
class RecordErasure:
    """C4: the `history_erased` notice of what the change erases."""

    erased: tuple[Erasure, ...]


@dataclass(frozen=True, slots=True)
class ChangeSeats:
    """C2, C3: the live subscription's new plan, unit price and seats."""

    subscription: Subscription
    plan: PlanId
    unit_price: Money
    removed: tuple[uuid.UUID, ...]
    added: tuple[uuid.UUID, ...]


Effect = (
    TerminateLegacy
    | StartTrial
    | CreateSubscription
    | IssueInvoice
    | IssueCredit
    | Refund
    | EndCoverage
    | EndSubscription
    | RecordErasure
    | ChangeSeats
)


@dataclass(frozen=True, slots=True)
class BillingPlan:
    """What a use case would do now: its quote, and its effects in the order they apply.
    The quote's tax is read off the documents the effects issue (one computation)."""

    quote: Quote
    effects: tuple[Effect, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "quote", _with_tax(self.quote, self.effects))


def _with_tax(quote: Quote, effects: tuple[Effect, ...]) -> Quote:
    """The quote with the tax of the invoices and of the credit and refund notes issued."""
    currency = quote.charge_now.currency
    charged: list[LineDraft] = []
    credited: list[LineDraft] = []
    for effect in effects:
        match effect:
            case IssueInvoice(_, lines, _):
                charged += lines
            case IssueCredit(_, lines, _):
                credited += lines
            case Refund(refund):
                credited += _documented(refund)
            case EndCoverage(ending) if ending.refund is not None:
                credited += _documented(ending.refund)
    treatment = next((line.tax for line in (*charged, *credited) if line.tax), None)
    return replace(
        quote,
        tax_charged=tax_total(charged, currency),
        tax_credited=tax_total(credited, currency),
        tax=treatment,
    )


def _documented(refund: CancelRefund) -> list[LineDraft]:
    documents = refund.documents()
    return [*documents.refund, *(line for line in (documents.kept, documents.rest) if line)]
