"""The data export's row (GDPR Art. 20, `accounts.export`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id


class DataExport(Base):
    """One export asked for: built by the export job into a zip under `storage_key`, its link
    (only the token's SHA-256 here) valid until `expires_at`, the file deleted after."""

    __tablename__ = "data_exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    requested_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    storage_key: Mapped[str | None] = mapped_column(String(200))
    digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    file_deleted_at: Mapped[datetime | None]
    job_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    job_retry_at: Mapped[datetime | None]
