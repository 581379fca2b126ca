"""Online or offline, pure (issue 12 item 2): a camera is online while it was seen within
`ONLINE_WINDOW` (an `online` event over MQTT, sent on connect and every minute, or a long
poll, which comes back at least every 25 s)."""

from __future__ import annotations

from datetime import datetime, timedelta

ONLINE_WINDOW = timedelta(minutes=2)
#: A long poll records the camera as seen only when that is older than this: a poll loop
#: does not write the camera's row on every request.
TOUCH_AFTER = timedelta(seconds=30)


def is_online(last_seen_at: datetime | None, now: datetime) -> bool:
    return last_seen_at is not None and now - last_seen_at < ONLINE_WINDOW


def needs_touch(last_seen_at: datetime | None, now: datetime) -> bool:
    return last_seen_at is None or now - last_seen_at >= TOUCH_AFTER
