"""Support errors.

KasaCareError
 ├── GoodwillLimitExceeded   409  goodwill_limit_exceeded   over the goodwill policy's cap
 └── CameraCoveredByLegacy   409  camera_covered_by_legacy  resolve the legacy case first
"""

from __future__ import annotations

from kasacare.kit.errors import KasaCareError


class GoodwillLimitExceeded(KasaCareError):
    code = "goodwill_limit_exceeded"
    status = 409
    title = "Goodwill credit over the policy's limit"


class CameraCoveredByLegacy(KasaCareError):
    code = "camera_covered_by_legacy"
    status = 409
    title = "Camera covered by a legacy subscription"
