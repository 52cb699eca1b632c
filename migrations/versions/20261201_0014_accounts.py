"""Console accounts: ``console_users`` (a person with a name and an Argon2id password hash who acts as a
principal; failed sign-ins and the lock) and, on ``console_sessions``, the account that signed in and the
time of the last request (the idle timeout).

Revision ID: 0014_accounts
Revises: 0013_targets
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pipeline.models

revision: str = "0014_accounts"
down_revision: str | Sequence[str] | None = "0013_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("locked_until", pipeline.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", pipeline.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("disabled_at", pipeline.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"],
                                name=op.f("fk_console_users_principal_id_principals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_users")),
        sa.UniqueConstraint("name", name=op.f("uq_console_users_name")),
    )
    op.create_index(op.f("ix_console_users_principal_id"), "console_users", ["principal_id"], unique=False)
    with op.batch_alter_table("console_sessions") as batch:
        batch.add_column(sa.Column("user_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("last_seen_at", pipeline.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_column("last_seen_at")
        batch.drop_column("user_id")
    op.drop_index(op.f("ix_console_users_principal_id"), table_name="console_users")
    op.drop_table("console_users")
