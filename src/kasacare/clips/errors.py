"""Errors of the clips domain (stable codes of SPEC section 3)."""

from __future__ import annotations

from kasacare.kit.errors import KasaCareError


class NoCloudRecording(KasaCareError):
    code = "no_cloud_recording"
    status = 403
    title = "This camera has no cloud recording"


class ClipNoLongerAvailable(KasaCareError):
    code = "clip_no_longer_available"
    status = 410
    title = "No longer available"


class ClipTooLarge(KasaCareError):
    code = "clip_too_large"
    status = 413
    title = "The clip is too large"


class UnsupportedClipType(KasaCareError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported clip type"


class UploadTooSlow(KasaCareError):
    """The group took so long to store that the sweeper's watermark may have passed its
    clips (`clips.watermark.SAFETY_LAG`): nothing was kept; the camera sends it again."""

    code = "upload_too_slow"
    status = 503
    title = "The upload took too long to store; send it again"


class NotMp4(KasaCareError):
    """An upload whose first bytes are not an ISO BMFF `ftyp` box (`clips.mp4`)."""

    code = "not_mp4"
    status = 415
    title = "The clip is not an MP4 file"
