"""Dynamic management: annual data filings (one per firm and year; indicators attach later).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24 02:40:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pipeline.models

Text = sa.Text

revision: str = '0003'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('annual_filings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', pipeline.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('indicators', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_annual_filings_enterprise_id_enterprises'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annual_filings')),
    sa.UniqueConstraint('enterprise_id', 'year', name=op.f('uq_annual_filings_enterprise_id_year'))
    )


def downgrade() -> None:
    op.drop_table('annual_filings')
