"""A manual recording request's state, pure (issue 12 item 3, SPEC V5).

The state is computed from the request's timestamps, never stored, so every node reads the
same answer at the same instant and no job has to run for a request to expire:

- `sent`: written with its `record_now` command, no answer yet;
- `recording`: the camera answered (a `recording_started` event over MQTT, or its ack of
  the long-polled command) within `ANSWER_WITHIN`;
- `uploaded`: the camera's manual clip, posted with the request's id, is linked to it;
- `expired`: no answer within `ANSWER_WITHIN` (the command's `until`), or a recording
  whose clip did not arrive within `UPLOAD_WITHIN` of the request.

An answer or an upload counts only while the request is open (`sent` or `recording`): a
late clip is still stored, as a manual clip of its own, but not linked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

#: A record_now the camera has not answered by then is expired (issue 12 item 3).
ANSWER_WITHIN = timedelta(minutes=2)
#: A camera that started recording has this long from the request to upload its clip
#: (a manual clip is short; the rest is a slow uplink).
UPLOAD_WITHIN = timedelta(minutes=15)


class RequestState(StrEnum):
    SENT = "sent"
    RECORDING = "recording"
    UPLOADED = "uploaded"
    EXPIRED = "expired"


OPEN = frozenset({RequestState.SENT, RequestState.RECORDING})


def request_state(
    requested_at: datetime,
    recording_started_at: datetime | None,
    uploaded_at: datetime | None,
    now: datetime,
) -> RequestState:
    if uploaded_at is not None:
        return RequestState.UPLOADED
    if recording_started_at is not None:
        if now < requested_at + UPLOAD_WITHIN:
            return RequestState.RECORDING
        return RequestState.EXPIRED
    if now < requested_at + ANSWER_WITHIN:
        return RequestState.SENT
    return RequestState.EXPIRED


def answer_until(requested_at: datetime) -> datetime:
    """The `until` of the request's record_now: after it the camera should not start."""
    return requested_at + ANSWER_WITHIN
