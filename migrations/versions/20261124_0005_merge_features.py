"""Join the feature branches (audit and feed, dynamic management, imports) into one head.

Revision ID: 0005
Revises: 0002, 0003, 0004
Create Date: 2026-11-24
"""
from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: the three branches touch disjoint tables."""


def downgrade() -> None:
    """Nothing to change."""
