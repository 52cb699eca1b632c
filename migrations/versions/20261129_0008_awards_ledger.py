"""The awards ledger: policy pack versions, entitlements, their hash-chained records, payers' budgets.

``award_records`` is append-only like ``events``: the database refuses UPDATE and DELETE (a trigger on
SQLite and PostgreSQL alike).

Revision ID: 0007_awards
Revises: 0006_sessions
Create Date: 2026-11-29
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import pipeline.models.base

revision: str = '0007_awards'
down_revision: str | None = '0006_chain'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('award_budgets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payer_region', sa.String(length=6), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('updated_at', pipeline.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award_budgets')),
    sa.UniqueConstraint('payer_region', 'year', name=op.f('uq_award_budgets_payer_region_year'))
    )
    op.create_table('policy_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('change', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', pipeline.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_versions')),
    sa.UniqueConstraint('policy_id', 'version', name=op.f('uq_policy_versions_policy_id_version'))
    )
    op.create_table('award_entitlements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('policy_version', sa.Integer(), nullable=False),
    sa.Column('policy_hash', sa.String(length=64), nullable=False),
    sa.Column('award_id', sa.String(length=64), nullable=False),
    sa.Column('stacking_group', sa.String(length=64), nullable=False),
    sa.Column('achievement_seq', sa.Integer(), nullable=True),
    sa.Column('trigger', sa.String(length=32), nullable=True),
    sa.Column('side_title_kind', sa.String(length=32), nullable=True),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('gross_amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('net_amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('offsets', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('superseded_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('payers', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.Column('basis', sa.Text(), nullable=True),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('settled_outside_system', sa.Boolean(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', pipeline.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pipeline.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_award_entitlements_enterprise_id_enterprises'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award_entitlements')),
    sa.UniqueConstraint('uscc', 'achievement_seq', 'policy_id', 'award_id', name=op.f('uq_award_entitlements_uscc_achievement_seq_policy_id_award_id'))
    )
    with op.batch_alter_table('award_entitlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_award_entitlements_effective_date'), ['effective_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_award_entitlements_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_award_entitlements_policy_id'), ['policy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_award_entitlements_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_award_entitlements_status'), ['status'], unique=False)
        batch_op.create_index('ix_award_entitlements_uscc_group', ['uscc', 'stacking_group'], unique=False)

    op.create_table('award_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entitlement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('recorded_at', pipeline.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['entitlement_id'], ['award_entitlements.id'], name=op.f('fk_award_records_entitlement_id_award_entitlements'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award_records')),
    sa.UniqueConstraint('entitlement_id', 'seq', name=op.f('uq_award_records_entitlement_id_seq'))
    )
    _create_append_only_guard()


APPEND_ONLY_MESSAGE = "award records are append-only: UPDATE and DELETE are refused (奖励记录不可修改或删除)"


def _create_append_only_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION award_records_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'restrict_violation';
            END $$
        """)
        op.execute("CREATE TRIGGER award_records_append_only BEFORE UPDATE OR DELETE ON award_records "
                   "FOR EACH ROW EXECUTE FUNCTION award_records_refuse_change()")
        op.execute("CREATE TRIGGER award_records_no_truncate BEFORE TRUNCATE ON award_records "
                   "FOR EACH STATEMENT EXECUTE FUNCTION award_records_refuse_change()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER award_records_refuse_{action.lower()} BEFORE {action} ON award_records "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER award_records_no_truncate ON award_records")
        op.execute("DROP TRIGGER award_records_append_only ON award_records")
        op.execute("DROP FUNCTION award_records_refuse_change()")
    op.drop_table('award_records')
    with op.batch_alter_table('award_entitlements', schema=None) as batch_op:
        batch_op.drop_index('ix_award_entitlements_uscc_group')
        batch_op.drop_index(batch_op.f('ix_award_entitlements_status'))
        batch_op.drop_index(batch_op.f('ix_award_entitlements_region_code'))
        batch_op.drop_index(batch_op.f('ix_award_entitlements_policy_id'))
        batch_op.drop_index(batch_op.f('ix_award_entitlements_enterprise_id'))
        batch_op.drop_index(batch_op.f('ix_award_entitlements_effective_date'))

    op.drop_table('award_entitlements')
    op.drop_table('policy_versions')
    op.drop_table('award_budgets')
