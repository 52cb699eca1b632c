"""Audit and time travel: the auditor read log, anchors of chain heads, the change feed's commit order
(events.tx_id) and the indexes of point-in-time, auditor search and the feed.

PostgreSQL sets events.tx_id at INSERT (a BEFORE INSERT trigger: the inserting transaction's id), since
the append-only guard refuses any later UPDATE. SQLite serialises writers, so id order is commit order
there and tx_id stays null.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pipeline.models

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table('audit_reads',
    sa.Column('id', BigId, nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('route', sa.String(length=200), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=True),
    sa.Column('query', sa.Text(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('read_at', pipeline.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_reads'))
    )
    op.create_index('ix_audit_reads_actor_id', 'audit_reads', ['actor', 'id'], unique=False)
    op.create_index(op.f('ix_audit_reads_uscc'), 'audit_reads', ['uscc'], unique=False)

    op.create_table('anchors',
    sa.Column('id', BigId, nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('firms', sa.Integer(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('created_at', pipeline.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anchors'))
    )
    op.create_table('anchor_heads',
    sa.Column('anchor_id', BigId, nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['anchor_id'], ['anchors.id'], name=op.f('fk_anchor_heads_anchor_id_anchors'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('anchor_id', 'uscc', name=op.f('pk_anchor_heads'))
    )

    # Plain ALTER TABLE (no batch copy on SQLite: recreating events would drop its append-only triggers).
    op.add_column('events', sa.Column('tx_id', sa.BigInteger(), nullable=True))
    if postgres:
        # Events stored before this revision precede every later transaction in the feed.
        op.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        op.execute("UPDATE events SET tx_id = 0")
        op.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
        op.execute("""
            CREATE FUNCTION events_set_tx_id() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.tx_id := pg_current_xact_id()::text::bigint;
                RETURN NEW;
            END $$
        """)
        op.execute("CREATE TRIGGER events_tx_id BEFORE INSERT ON events "
                   "FOR EACH ROW EXECUTE FUNCTION events_set_tx_id()")
    op.create_index('ix_events_tx_id_id', 'events', ['tx_id', 'id'], unique=False)
    op.create_index('ix_events_recorded_at', 'events', ['recorded_at'], unique=False)
    op.create_index('ix_events_actor_id', 'events', ['actor', 'id'], unique=False)
    op.create_index('ix_events_trigger_id', 'events', ['trigger', 'id'], unique=False)
    op.create_index('ix_events_effective_date', 'events', ['effective_date'], unique=False)
    op.create_index('ix_recognitions_tier_recognized_on', 'recognitions',
                    ['tier', 'recognized_on', 'valid_until'], unique=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index('ix_recognitions_tier_recognized_on', table_name='recognitions')
    for name in ('ix_events_effective_date', 'ix_events_trigger_id', 'ix_events_actor_id',
                 'ix_events_recorded_at', 'ix_events_tx_id_id'):
        op.drop_index(name, table_name='events')
    if postgres:
        op.execute("DROP TRIGGER events_tx_id ON events")
        op.execute("DROP FUNCTION events_set_tx_id()")
        op.drop_column('events', 'tx_id')
    else:
        op.execute("ALTER TABLE events DROP COLUMN tx_id")  # SQLite ≥ 3.35; keeps the table and its triggers
    op.drop_table('anchor_heads')
    op.drop_table('anchors')
    op.drop_index(op.f('ix_audit_reads_uscc'), table_name='audit_reads')
    op.drop_index('ix_audit_reads_actor_id', table_name='audit_reads')
    op.drop_table('audit_reads')
