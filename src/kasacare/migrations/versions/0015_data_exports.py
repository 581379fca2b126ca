"""Data exports (GDPR Art. 20, issue 13 item 3): one row per export asked for, with its
zip's storage key, the SHA-256 of its link token, its 24 hours, and the job's retry state.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:17:31.207192
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kasacare.kit.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("storage_key", sa.String(length=200), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("file_deleted_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("job_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("job_retry_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_data_exports_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        sa.UniqueConstraint("digest", name=op.f("uq_data_exports_digest")),
    )
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_exports_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_exports_account_id"))

    op.drop_table("data_exports")
