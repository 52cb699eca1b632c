"""The annual data filings (年度数据更新): one row per firm and year, the indicators to attach later."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, OptionalCanonicalJsonDoc, UTCDateTime


class AnnualFiling(Base):
    """A firm's data for one year, filed by the rulebook's deadline in the following year (or late).

    ``indicators`` is left for the eligibility feature's per-year indicator record (R&D spend, revenue …); SQL
    NULL when the year was filed without them (the readers skip such years with ``IS NOT NULL``).
    The unique (firm, year) index also serves the look-ups by firm.
    """

    __tablename__ = "annual_filings"
    __table_args__ = (UniqueConstraint("enterprise_id", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column(Integer)
    filed_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    indicators: Mapped[dict[str, Any] | None] = mapped_column(OptionalCanonicalJsonDoc)
