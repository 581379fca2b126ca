"""IANA time zones for what a person reads: names checked against the system's tz database,
and a moment shown in a zone. Storage and arithmetic stay in UTC; only display is local."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from kasacare.kit.calendar import require_utc

DEFAULT_ZONE = "UTC"
_NOT_ZONES = {"localtime", "posixrules", "Factory"}


@cache
def zone_names() -> frozenset[str]:
    """Every IANA name the machine knows (read once: it walks the tz database), without the
    files that name the machine's own setting rather than a zone."""
    return frozenset(available_timezones() - _NOT_ZONES) | {DEFAULT_ZONE}


def is_zone(name: str) -> bool:
    """A known IANA name; never a path or an abbreviation ZoneInfo would also open."""
    return name in zone_names()


def zone(name: str) -> ZoneInfo:
    """The zone for a stored name; UTC for one the machine no longer knows."""
    return ZoneInfo(name if is_zone(name) else DEFAULT_ZONE)


def local(moment: datetime, name: str) -> datetime:
    return require_utc(moment).astimezone(zone(name))


def day_end(day: date, name: str) -> datetime:
    """The UTC instant the local `day` ends (the next local midnight), DST included."""
    midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone(name))
    return midnight.astimezone(UTC)
