"""Pure billing rules: paying with the balance first (M9) and refunding newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from kasacare.billing.tax import TaxSplit, TaxTreatment, split
from kasacare.kit.money import Money


@dataclass(frozen=True, slots=True)
class LineDraft:
    """A document line before issue: what it covers and its gross amount (+ charge,
    - credit), and the tax it includes (None: outside the scope of tax). `net`: a net fixed
    by the caller (the rest of a line split in two keeps the whole line's tax exactly)."""

    description: str
    amount: Money
    period_start: datetime | None = None
    period_end: datetime | None = None
    tax: TaxTreatment | None = None
    net: Money | None = None

    @property
    def split(self) -> TaxSplit:
        if self.net is not None:
            return TaxSplit(self.net, self.amount - self.net, self.amount)
        return split(self.amount, self.tax)

    def negated(self) -> LineDraft:
        """The same line with the opposite sign (a credit line as credited, and back)."""
        net = -self.net if self.net is not None else None
        return replace(self, amount=-self.amount, net=net)


def parted(line: LineDraft, part: Money, description: str) -> tuple[LineDraft, LineDraft]:
    """`line` in two: `part` of its gross (split on its own) and the rest, whose net is the
    whole line's net less the part's, so the two taxes add up to the line's exactly."""
    first = LineDraft(description, part, line.period_start, line.period_end, line.tax)
    rest_net = line.split.net - first.split.net
    rest = replace(line, amount=line.amount - part, net=rest_net)
    return first, rest


def total(lines: Sequence[LineDraft], currency: str) -> Money:
    """A total is the sum of its lines, each already rounded on its own (M6)."""
    result = Money.zero(currency)
    for line in lines:
        result += line.amount
    return result


def tax_total(lines: Sequence[LineDraft], currency: str) -> Money:
    """The tax of a document: the sum of its lines' taxes, each split on its own."""
    result = Money.zero(currency)
    for line in lines:
        result += line.split.tax
    return result


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a net amount is settled against the credit balance (M9)."""

    charge_card: Money
    credit_used: Money
    credit_added: Money
    balance_after: Money


def settle(net: Money, balance: Money) -> Settlement:
    """Net >= 0: the balance pays first, the card the rest. Net < 0: credit added."""
    zero = Money.zero(net.currency)
    if net.amount >= 0:
        used = net.min(balance) if balance.amount > 0 else zero
        return Settlement(net - used, used, zero, balance - used)
    return Settlement(zero, zero, -net, balance - net)


@dataclass(frozen=True, slots=True)
class Refundable:
    """A card payment that can still take refunds, newest first in lists."""

    payment_id: str
    available: Money


def allocate_refund(amount: Money, payments: Sequence[Refundable]) -> list[tuple[str, Money]]:
    """Spread `amount` over payments in the order given (newest first), each up to what it
    can still take (M6, M9). What cannot be placed is left out: the caller keeps it."""
    allocations = []
    left = amount
    for payment in payments:
        if left.amount <= 0:
            break
        take = left.min(payment.available)
        if take.amount > 0:
            allocations.append((payment.payment_id, take))
            left -= take
    return allocations


@dataclass(frozen=True, slots=True)
class CancelSettlement:
    """Money of a cancel (C1, M9): the unused part plus the balance go back to the card,
    newest charges first, each up to what it can take; what no charge can take stays as
    credit on the balance."""

    refund_from_unused: Money
    refund_from_balance: Money
    credit_rest: Money
    allocations: list[tuple[str, Money]]
    balance_after: Money

    @property
    def refund_total(self) -> Money:
        return self.refund_from_unused + self.refund_from_balance


def settle_cancel(
    unused: Money,
    balance: Money,
    payments: Sequence[Refundable],
    *,
    refund_balance: bool = True,
    goodwill: Money | None = None,
    kept: Money | None = None,
) -> CancelSettlement:
    """`goodwill`: the part of `balance` that is never paid out (M9 refunds the rest).
    `kept`: the part of `unused` that goodwill credit paid: it goes back to the balance as
    goodwill, never to a card."""
    zero = Money.zero(unused.currency)
    cash = balance - (goodwill or zero)
    refundable_unused = unused - (kept or zero)
    returned = refundable_unused + (cash if refund_balance and cash.amount > 0 else zero)
    allocations = allocate_refund(returned, payments)
    refunded = total([LineDraft("", amount) for _, amount in allocations], unused.currency)
    from_unused = refundable_unused.min(refunded)
    from_balance = refunded - from_unused
    rest = unused - from_unused
    return CancelSettlement(
        refund_from_unused=from_unused,
        refund_from_balance=from_balance,
        credit_rest=rest,
        allocations=allocations,
        balance_after=balance - from_balance + rest,
    )
