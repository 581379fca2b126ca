"""The `idempotency_keys` table behind `kasacare.kit.idempotency` (SPEC section 3).

One row per (caller, key): reserved when the first request with the key starts (no answer
yet), completed with the stored answer when it finishes, deleted when it fails with a 5xx
or crashes, and expired 24 h after `created_at`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("caller_digest", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # SHA-256 (hex) of the Authorization header; the credential itself is never stored.
    caller_digest: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 (hex) of the method, the path with its query string, and the body.
    request_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    # The stored answer; all three are NULL while the first request is still running.
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
