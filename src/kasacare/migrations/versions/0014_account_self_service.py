"""Account self-service (issue 13 item 1): a verified email and a language on the account,
an id for each session (the list names sessions by it, never by the token), single-use link
tokens stored as SHA-256, and the outbox of the account's own mail. Existing accounts start
unverified: their notification mail waits until the owner verifies the address.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:19:23.961401
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kasacare.kit.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "verify_email",
                "reset_password",
                "change_email",
                name="purpose",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_tokens_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_account_tokens_digest")),
    )
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_tokens_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "account_mails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "verify_email",
                "reset_password",
                "confirm_new_email",
                "email_changed",
                "password_changed",
                name="mailkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("link_token", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.String(length=320), nullable=True),
        sa.Column("created_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("send_before", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivery_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_mails_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["account_tokens.id"],
            name=op.f("fk_account_mails_token_id_account_tokens"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_mails")),
    )
    with op.batch_alter_table("account_mails", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_mails_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            "ix_account_mails_pending", ["delivered_at", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_account_mails_token_id"), ["token_id"], unique=False)

    # Sessions signed in before this revision get an id each, then the column is required.
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id", sa.Uuid(), nullable=True))
    tokens = sa.table("access_tokens", sa.column("digest", sa.String()), sa.column("id", sa.Uuid()))
    connection = op.get_bind()
    for (digest,) in connection.execute(sa.select(tokens.c.digest)).all():
        connection.execute(tokens.update().where(tokens.c.digest == digest).values(id=uuid.uuid4()))
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.alter_column("id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_access_tokens_id"), ["id"])

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "email_verified_at", kasacare.kit.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("language", sa.String(length=16), server_default="en", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("language")
        batch_op.drop_column("email_verified_at")

    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_access_tokens_id"), type_="unique")
        batch_op.drop_column("id")

    with op.batch_alter_table("account_mails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_mails_token_id"))
        batch_op.drop_index("ix_account_mails_pending")
        batch_op.drop_index(batch_op.f("ix_account_mails_account_id"))

    op.drop_table("account_mails")
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_tokens_account_id"))

    op.drop_table("account_tokens")
