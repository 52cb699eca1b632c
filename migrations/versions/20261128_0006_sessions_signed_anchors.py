"""Server-side console sessions (sign-out ends them on every worker) and signed anchors.

``console_sessions`` keeps one row per signed-in console session, keyed by the SHA-256 of the random id
the cookie carries; signing out ends the row, so a copied cookie stops working everywhere at once.
``anchors`` gains the Ed25519 signature over the anchor's RFC 8785 form and the id of the public key;
anchors made before this revision stay unsigned (both columns null).

Revision ID: 0006_sessions
Revises: 0005
Create Date: 2026-11-28
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pipeline.models

revision: str = "0006_sessions"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", pipeline.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", pipeline.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", pipeline.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_expires_at"), "console_sessions", ["expires_at"], unique=False)
    op.add_column("anchors", sa.Column("signature", sa.Text(), nullable=True))
    op.add_column("anchors", sa.Column("public_key_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("anchors", "public_key_id")
    op.drop_column("anchors", "signature")
    op.drop_index(op.f("ix_console_sessions_expires_at"), table_name="console_sessions")
    op.drop_table("console_sessions")
