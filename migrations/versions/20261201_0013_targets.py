"""Targets, recommendation quotas, application rounds and applications (issue 16).

Current state in four tables; every version goes to ``chain_records`` (chains ``targets``, ``quotas``,
``rounds``, ``applications``).

Revision ID: 0013_targets
Revises: 0012_credit
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_targets"
down_revision: str | Sequence[str] | None = "0012_credit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("items", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("region_code", "year", name=op.f("uq_targets_region_code_year")),
    )
    op.create_table(
        "quotas",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("base", JSON, nullable=False),
        sa.Column("bonus", JSON, nullable=False),
        sa.Column("based_on", JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotas")),
        sa.UniqueConstraint("region_code", "year", "tier", name=op.f("uq_quotas_region_code_year_tier")),
    )
    op.create_table(
        "application_rounds",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=100), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("document_no", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_rounds")),
        sa.UniqueConstraint("tier", "year", "batch", name=op.f("uq_application_rounds_tier_year_batch")),
    )
    op.create_table(
        "applications",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("round_id", BIG_ID, nullable=False),
        sa.Column("enterprise_id", BIG_ID, nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("recommended_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("document_no", sa.String(length=100), nullable=True),
        sa.Column("lost_points", JSON, nullable=False),
        sa.Column("recognition_seq", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"],
                                name=op.f("fk_applications_enterprise_id_enterprises"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["round_id"], ["application_rounds.id"],
                                name=op.f("fk_applications_round_id_application_rounds"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("round_id", "enterprise_id", name=op.f("uq_applications_round_id_enterprise_id")),
    )
    op.create_index(op.f("ix_applications_enterprise_id"), "applications", ["enterprise_id"])
    op.create_index(op.f("ix_applications_round_id"), "applications", ["round_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_applications_round_id"), table_name="applications")
    op.drop_index(op.f("ix_applications_enterprise_id"), table_name="applications")
    op.drop_table("applications")
    op.drop_table("application_rounds")
    op.drop_table("quotas")
    op.drop_table("targets")
