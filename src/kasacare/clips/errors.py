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


# --- direct uploads to object storage (`clips.direct_upload`) ------------------------------


class DirectUploadUnavailable(KasaCareError):
    """Clips are stored on the local disk: there is no object storage to upload to."""

    code = "direct_upload_unavailable"
    status = 409
    title = "Direct upload needs object storage; post the clip to /v1/device/clips"


class UploadObjectMissing(KasaCareError):
    """Completed before the PUT reached object storage; the camera may PUT and complete
    again while its URL lasts."""

    code = "upload_object_missing"
    status = 409
    title = "Nothing was uploaded for this upload"


class UploadSizeMismatch(KasaCareError):
    code = "upload_size_mismatch"
    status = 409
    title = "The uploaded object is not the size declared"


class UploadExpired(KasaCareError):
    code = "upload_expired"
    status = 410
    title = "The upload was not completed in time"


class UploadAbandoned(KasaCareError):
    """Refused or left unfinished before: its object is deleted; start a new upload."""

    code = "upload_abandoned"
    status = 410
    title = "This upload was refused or abandoned"


class NotJpeg(KasaCareError):
    """A thumbnail part whose first bytes are not a JPEG's (`clips.jpeg`)."""

    code = "not_jpeg"
    status = 415
    title = "The thumbnail is not a JPEG file"


class ThumbnailTooLarge(KasaCareError):
    code = "thumbnail_too_large"
    status = 413
    title = "The thumbnail is too large"
