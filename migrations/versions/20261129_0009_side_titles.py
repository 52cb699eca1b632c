"""Side titles: titles beside the tiers (单项冠军, 高新技术企业, 科技型中小企业 …).

Revision ID: 0006_titles
Revises: 0005
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_titles"
down_revision: str | Sequence[str] | None = "0007_awards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "side_titles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("enterprise_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("issuer_level", sa.String(length=16), nullable=False),
        sa.Column("document_no", sa.String(length=100), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason_code", sa.String(length=64), nullable=True),
        sa.Column("granted_by_seq", sa.Integer(), nullable=False),
        sa.Column("ended_by_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"],
                                name=op.f("fk_side_titles_enterprise_id_enterprises"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_side_titles")),
    )
    op.create_index(op.f("ix_side_titles_enterprise_id"), "side_titles", ["enterprise_id"], unique=False)
    op.create_index("ix_side_titles_kind_valid_until", "side_titles", ["kind", "valid_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_side_titles_kind_valid_until", table_name="side_titles")
    op.drop_index(op.f("ix_side_titles_enterprise_id"), table_name="side_titles")
    op.drop_table("side_titles")
