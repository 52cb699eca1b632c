"""Append-only, hash-chained records of things that are not steps of a firm's chain: a bank's loans, a
region's targets and quotas, application rounds, webhook subscriptions …

One table serves every such chain: ``(chain, key)`` names one chain (``("loans", "<bank principal id>")``,
``("targets", "410100/2025")``), ``seq`` counts from 1 within it, and each record is sealed with the firm
chain's recipe (:mod:`pipeline.lifecycle.chain`). The database refuses UPDATE and DELETE as it does for
``events``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, JsonDoc, UTCDateTime


class ChainRecord(Base):
    """One sealed change of one record chain (see the module docstring)."""

    __tablename__ = "chain_records"
    __table_args__ = (UniqueConstraint("chain", "key", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
