"""Record chains beside the firms' chains (loans, targets, quotas, rounds, webhooks …): one append-only table.

``chain_records`` is append-only like ``events``: the database refuses UPDATE and DELETE (a trigger on
both databases) and TRUNCATE on PostgreSQL.

Revision ID: 0010_chain_records
Revises: 0006_titles
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_chain_records"
down_revision: str | Sequence[str] | None = "0006_titles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = "chain records are append-only: UPDATE and DELETE are refused (记录不可修改或删除)"


def upgrade() -> None:
    op.create_table(
        "chain_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_records")),
        sa.UniqueConstraint("chain", "key", "seq", name=op.f("uq_chain_records_chain_key_seq")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION chain_records_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'restrict_violation';
            END $$
        """)
        op.execute("CREATE TRIGGER chain_records_append_only BEFORE UPDATE OR DELETE ON chain_records "
                   "FOR EACH ROW EXECUTE FUNCTION chain_records_refuse_change()")
        op.execute("CREATE TRIGGER chain_records_no_truncate BEFORE TRUNCATE ON chain_records "
                   "FOR EACH STATEMENT EXECUTE FUNCTION chain_records_refuse_change()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER chain_records_refuse_{action.lower()} BEFORE {action} ON chain_records "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER chain_records_no_truncate ON chain_records")
        op.execute("DROP TRIGGER chain_records_append_only ON chain_records")
        op.execute("DROP FUNCTION chain_records_refuse_change()")
    op.drop_table("chain_records")
