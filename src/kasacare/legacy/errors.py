"""Errors of the legacy domain (stable codes of SPEC section 3)."""

from __future__ import annotations

from kasacare.kit.errors import KasaCareError

NOT_REFUNDABLE_DETAIL = (
    "This subscription cannot be refunded. It was bought through an app store: cancel its "
    "renewal in the App Store or Google Play, or contact TP-Link support, who can end it for you."
)


class LegacyClosed(KasaCareError):
    code = "legacy_closed"
    status = 409
    title = "Legacy plans are closed for this account"


class LegacyNotRefundable(KasaCareError):
    code = "legacy_not_refundable"
    status = 409
    title = "This subscription cannot be refunded"


class LegacyConfirmationRequired(KasaCareError):
    code = "legacy_confirmation_required"
    status = 409
    title = "Confirm that your legacy subscriptions end"


class InvalidPeriod(KasaCareError):
    """An imported or extended period that has already ended, or that is not one billing
    cycle long (monthly: one calendar month; annual: one year, M7)."""

    code = "invalid_period"
    status = 422
    title = "Invalid billing period"
