"""Titles beside the tiers (单项冠军, 高新技术企业, 科技型中小企业 …): dated records a firm holds in any number,
granted and ended by ``side_title`` events in its chain. They are not states of the tier machine."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Date, ForeignKey, Index, Integer, String, and_, or_
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId


class SideTitle(Base):
    """One side title for one validity window. Ending it sets ``ended_on``; nothing is overwritten."""

    __tablename__ = "side_titles"
    __table_args__ = (Index("ix_side_titles_kind_valid_until", "kind", "valid_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    granted_on: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    issuer_level: Mapped[str] = mapped_column(String(16))
    document_no: Mapped[str] = mapped_column(String(100))
    product: Mapped[str | None] = mapped_column(String(200))
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    end_reason_code: Mapped[str | None] = mapped_column(String(64))
    granted_by_seq: Mapped[int] = mapped_column(Integer)
    ended_by_seq: Mapped[int | None] = mapped_column(Integer)

    def valid_on(self, day: dt.date) -> bool:
        return self.granted_on <= day <= self.valid_until and (self.ended_on is None or day < self.ended_on)

    @classmethod
    def valid_on_clause(cls, day: dt.date) -> ColumnElement[bool]:
        """:meth:`valid_on` as SQL, for rosters, counts and screening."""
        return and_(cls.granted_on <= day, cls.valid_until >= day, or_(cls.ended_on.is_(None), cls.ended_on > day))
