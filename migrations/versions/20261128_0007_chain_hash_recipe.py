"""chain: record which recipe sealed each event (``events.hash_recipe``).

Existing events keep ``NULL`` = ``pyjson-1`` (the original recipe); every new event is sealed with ``jcs-1``
(RFC 8785) and says so. ``ADD COLUMN`` rewrites no row, so the append-only trigger stays untouched.

Revision ID: 0006_chain
Revises: 0005
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_chain"
down_revision: str | Sequence[str] | None = "0006_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No server default: existing rows must stay NULL (an ADD COLUMN … DEFAULT would fill them in).
    op.add_column("events", sa.Column("hash_recipe", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "hash_recipe")
