"""The goodwill policy's setting (`KASACARE_GOODWILL_CAP_YEARS`) as an exact ratio."""

from __future__ import annotations

from fractions import Fraction

from kasacare.config import Settings


def goodwill_cap_years(settings: Settings) -> Fraction:
    return Fraction(str(settings.goodwill_cap_years))
