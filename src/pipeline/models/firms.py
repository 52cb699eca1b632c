"""Firms, their titles and their events. Events are append-only: nothing here cascades onto them and the
database refuses changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline.models.base import Base, BigId, CanonicalJsonDoc, JsonDoc, UTCDateTime


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    barred_until: Mapped[dt.date | None] = mapped_column(Date)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_effective_date: Mapped[dt.date | None] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(CanonicalJsonDoc, default=dict)
    """Further firm data officials keep (industry, legal representative, contact …)."""
    flags: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    """Data-derived marks that are not states: candidate flags, dynamic-management flags."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    recognitions: Mapped[list[Recognition]] = relationship(
        back_populates="enterprise", order_by="Recognition.id", lazy="selectin"
    )


class Recognition(Base):
    """One title (称号) held for one validity window. Renewal adds a row; nothing is overwritten."""

    __tablename__ = "recognitions"
    __table_args__ = (Index("ix_recognitions_tier_valid_until", "tier", "valid_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="RESTRICT"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    document_no: Mapped[str | None] = mapped_column(String(100))
    batch: Mapped[str | None] = mapped_column(String(100))
    recognized_on: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(64))
    granted_by_seq: Mapped[int] = mapped_column(Integer)
    ended_by_seq: Mapped[int | None] = mapped_column(Integer)

    enterprise: Mapped[Enterprise] = relationship(back_populates="recognitions")

    def valid_on(self, day: dt.date) -> bool:
        return self.recognized_on <= day <= self.valid_until and (self.ended_on is None or day < self.ended_on)

    @classmethod
    def valid_on_clause(cls, day: dt.date | ColumnElement[dt.date]) -> ColumnElement[bool]:
        """:meth:`valid_on` as SQL, for rosters, exports and screening."""
        return and_(cls.recognized_on <= day, cls.valid_until >= day, or_(cls.ended_on.is_(None), cls.ended_on > day))


class Event(Base):
    """The audit trail: one row per change of a firm, hash-chained per firm. Never updated or deleted."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("uscc", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="RESTRICT"), index=True)
    uscc: Mapped[str] = mapped_column(String(18))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str | None] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    rulebook_id: Mapped[str] = mapped_column(String(32))
    rulebook_hash: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    hash_recipe: Mapped[str | None] = mapped_column(String(16))
    """The recipe that sealed ``hash`` (``jcs-1``); ``NULL`` for events sealed before it was recorded
    (``pyjson-1``). Not hashed: see :mod:`pipeline.lifecycle.chain`."""
    tx_id: Mapped[int | None] = mapped_column(BigInteger)
    """Committing transaction (PostgreSQL: set by a BEFORE INSERT trigger; SQLite: null). Not hashed."""

