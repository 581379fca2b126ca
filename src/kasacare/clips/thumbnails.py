"""A clip's poster frame (issue 11, item 3): where it is stored and the URL that shows it.

The JPEG lives in the clip's storage beside the clip (`thumbnail_key_for`: `<camera>/<clip
file>.jpg`), sent by the camera with the upload or extracted by the media job
(`clips.media_job`), and `clips.thumbnail_key` names it. It goes with the clip: every path
that deletes a clip's bytes (the sweeper, for expired and erased clips alike) deletes it in
the same call, and its URL is issued, and on the local disk served, only while the clip is
available (V4, V7: 410 together).

`thumbnail_url(storage, clip, keys, now)` is the one way to get a URL (API and web pages):
on S3 a presigned GET of the JPEG itself, on the local disk our `THUMBNAIL_PATH` behind an
HMAC token naming the clip's id (purpose `thumbnail`, `clips.signing`), both for
`PLAYBACK_URL_TTL`. None while there is no thumbnail yet, or once the clip is gone.
"""

from __future__ import annotations

from datetime import datetime

from kasacare.clips.models import Clip
from kasacare.clips.rules import available
from kasacare.clips.signing import PLAYBACK_URL_TTL, sign
from kasacare.clips.storage import ClipStorage
from kasacare.kit.signing_keys import Keyring

THUMBNAIL_PATH = "/v1/clip-thumbnails/{token}"
THUMBNAIL_TYPE = "image/jpeg"


def thumbnail_key_for(clip_key: str) -> str:
    """The thumbnail's key, derived from its clip's: `<camera>/<id>.mp4` → `<camera>/<id>.jpg`."""
    return f"{clip_key.removesuffix('.mp4')}.jpg"


def thumbnail_url(storage: ClipStorage, clip: Clip, keys: Keyring, now: datetime) -> str | None:
    """A URL that shows `clip`'s thumbnail for `PLAYBACK_URL_TTL`; None when it has none yet
    or is no longer available. The caller has checked that the holder may see the clip."""
    key = clip.thumbnail_key
    if key is None or clip.deleted_at is not None:
        return None
    if not available(clip.expires_at, clip.erased_at, now):
        return None
    presigned = storage.presigned_get(key, int(PLAYBACK_URL_TTL.total_seconds()))
    if presigned is not None:
        return presigned
    token = sign(str(clip.id), now + PLAYBACK_URL_TTL, keys, purpose="thumbnail")
    return THUMBNAIL_PATH.format(token=token)
