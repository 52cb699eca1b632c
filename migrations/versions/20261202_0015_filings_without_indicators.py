"""A year filed without indicators holds SQL NULL in ``annual_filings.indicators``, not JSON ``null``.

Before, a filing recorded without indicators (``PUT /api/v1/enterprises/{uscc}/filings/{year}``) stored
JSON ``null``, which the readers' ``indicators IS NOT NULL`` took for indicators: the candidate list judged
such a year (as having no values) instead of the firm's latest year with indicators. The column now stores
``None`` as SQL NULL (:class:`pipeline.models.base.OptionalCanonicalJsonDoc`); this turns the rows already
written into NULL. The downgrade has nothing to undo: NULL reads back as ``None`` either way.

Revision ID: 0015_filings_without_indicators
Revises: 0014_accounts
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015_filings_without_indicators"
down_revision: str | Sequence[str] | None = "0014_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_null = "'null'::jsonb" if op.get_bind().dialect.name == "postgresql" else "'null'"
    op.execute(f"UPDATE annual_filings SET indicators = NULL WHERE indicators = {json_null}")


def downgrade() -> None:
    pass
