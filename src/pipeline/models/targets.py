"""Targets, recommendation quotas, application rounds and applications (SPEC §5): the yearly cycle
officials are judged by. Each row holds the current state; its own record chain in ``chain_records``
(:mod:`pipeline.history.ledger`) holds every version, so a revision never loses the value it replaced."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, JsonDoc, UTCDateTime


class Target(Base):
    """A region's targets for one year (chain ``targets``, key ``<region>/<year>``). PUT replaces ``items``."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("region_code", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class Quota(Base):
    """A region's recommendation quotas (推荐名额) for its child regions, per year and tier (chain ``quotas``)."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("region_code", "year", "tier"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    base: Mapped[dict[str, int]] = mapped_column(JsonDoc)
    bonus: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    based_on: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class ApplicationRound(Base):
    """One application round (申报批次) of a tier: 申报 → 推荐 → 认定 (chain ``rounds``, key = id)."""

    __tablename__ = "application_rounds"
    __table_args__ = (UniqueConstraint("tier", "year", "batch"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tier: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    batch: Mapped[str] = mapped_column(String(100))
    opens_on: Mapped[dt.date] = mapped_column(Date)
    closes_on: Mapped[dt.date] = mapped_column(Date)
    document_no: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str | None] = mapped_column(String(6))
    """The creator's jurisdiction (``None``: everywhere): the round takes applications from firms it covers."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class Application(Base):
    """A firm's application in a round (chain ``applications``, key = id); one per firm per round."""

    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("round_id", "enterprise_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("application_rounds.id", ondelete="RESTRICT"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="RESTRICT"), index=True)
    uscc: Mapped[str] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6))
    """The firm's region when it applied: the child region whose quota its recommendation uses."""
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    recommended_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    document_no: Mapped[str | None] = mapped_column(String(100))
    lost_points: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    recognition_seq: Mapped[int | None] = mapped_column(Integer)
    """The seq of the recognition event an approval fired in the firm's chain."""
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
