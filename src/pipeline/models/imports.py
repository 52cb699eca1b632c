"""The record of applied imports: which file (by SHA-256), with which action and options, by whom, when.

A second upload of the same file with the same action and options finds its run here and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, JsonDoc, UTCDateTime


class ImportRun(Base):
    __tablename__ = "import_runs"
    __table_args__ = (UniqueConstraint("file_sha256", "action", "options_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    """The options that shape what the rows mean (batch, document_no, effective_date, header map)."""
    options_key: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the canonical JSON of ``options``: the lookup key beside the file's hash."""
    rows: Mapped[int] = mapped_column(Integer)
    events_written: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
