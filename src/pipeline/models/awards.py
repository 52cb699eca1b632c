"""Tables of the awards ledger: policy pack versions, entitlements with their own hash-chained records, and
payers' budgets. Entitlements are not events of a firm's chain: each has a chain of its own."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, JsonDoc, UTCDateTime


class PolicyVersion(Base):
    """A version of a policy pack made by an official (the shipped file is version 1 and is not stored)."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("policy_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    content_hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(64))
    change: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    actor: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str | None] = mapped_column(String(64))


class Entitlement(Base):
    """Money a firm is owed under one award of one pack for one achievement (or a manual basis).

    ``payers`` holds the shares: ``[{region_code, amount, status, paid_on, document_no}]``. The row is the
    current view; every change to it appends an :class:`EntitlementRecord` carrying the full new view."""

    __tablename__ = "award_entitlements"
    __table_args__ = (
        UniqueConstraint("uscc", "achievement_seq", "policy_id", "award_id"),
        Index("ix_award_entitlements_uscc_group", "uscc", "stacking_group"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="RESTRICT"), index=True)
    uscc: Mapped[str] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    policy_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_version: Mapped[int] = mapped_column(Integer)
    policy_hash: Mapped[str] = mapped_column(String(64))
    award_id: Mapped[str] = mapped_column(String(64))
    stacking_group: Mapped[str] = mapped_column(String(64))
    achievement_seq: Mapped[int | None] = mapped_column(Integer)
    trigger: Mapped[str | None] = mapped_column(String(32))
    side_title_kind: Mapped[str | None] = mapped_column(String(32))
    effective_date: Mapped[dt.date] = mapped_column(Date, index=True)
    gross_amount: Mapped[int] = mapped_column(BigId)
    net_amount: Mapped[int] = mapped_column(BigId)
    offsets: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    superseded_by: Mapped[int | None] = mapped_column(BigId)
    payers: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16), index=True)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    basis: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    settled_outside_system: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class EntitlementRecord(Base):
    """One append-only, hash-chained record of an entitlement: its creation and every status change."""

    __tablename__ = "award_records"
    __table_args__ = (UniqueConstraint("entitlement_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entitlement_id: Mapped[int] = mapped_column(ForeignKey("award_entitlements.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AwardBudget(Base):
    """What a payer region has budgeted for awards in a year."""

    __tablename__ = "award_budgets"
    __table_args__ = (UniqueConstraint("payer_region", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payer_region: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigId)
    actor: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
