"""Pure clip rules: how long a clip is kept, which uploads fit the window (V1, V2, F2, V3a)."""

from __future__ import annotations

from datetime import datetime, timedelta

from kasacare.entitlements.rules import Entitlement, EntitlementSource

#: V1: a clip may start at most this far in the future (camera clocks drift).
FUTURE_SKEW = timedelta(minutes=5)
#: V3a: an entry stays listed, available or not, until this long after the clip started.
LISTED_FOR = timedelta(days=30)


def clip_expiry(started_at: datetime, entitlement: Entitlement) -> datetime:
    """When a clip leaves the window this entitlement keeps; a clip kept by the free plan
    expires no later than the free plan's end (F2)."""
    expiry = started_at + entitlement.window
    if entitlement.source is EntitlementSource.FREE and entitlement.free_plan_ends_at:
        expiry = min(expiry, entitlement.free_plan_ends_at)
    return expiry


def fits_window(started_at: datetime, entitlement: Entitlement, now: datetime) -> bool:
    """V1: `started_at` within [now - window, now + 5 min]."""
    return now - entitlement.window <= started_at <= now + FUTURE_SKEW


def available(expires_at: datetime, erased_at: datetime | None, now: datetime) -> bool:
    """V2, V4: playable only while not erased and before its expiry, compared with the clock."""
    return erased_at is None and now < expires_at
