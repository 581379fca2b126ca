"""One error base for the whole service.

    KasaCareError                       code, status, title, detail, extra members
     ├── NotFound                 404   not_found
     ├── Unauthorized             401   unauthorized
     ├── Forbidden                403   forbidden
     ├── ValidationFailed         422   validation_error
     ├── TooManyAttempts          429   too_many_attempts
     └── (each domain's precise subclasses, declared in its service module)

One handler (`kasacare.kit.http`) renders every one as RFC 9457 problem+json with the stable
machine `code`. Routes never build error responses themselves.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KasaCareError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class NotFound(KasaCareError):
    code = "not_found"
    status = 404
    title = "Not found"


class Unauthorized(KasaCareError):
    code = "unauthorized"
    status = 401
    title = "Authentication required"


class Forbidden(KasaCareError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class ValidationFailed(KasaCareError):
    code = "validation_error"
    status = 422
    title = "Invalid request"


class TooManyAttempts(KasaCareError):
    code = "too_many_attempts"
    status = 429
    title = "Too many attempts"
