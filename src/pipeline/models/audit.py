"""Tables and indexes of the audit features: auditor read log, anchors of chain heads, and the indexes
that keep point-in-time, auditor search and the change feed fast on province-scale data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, UTCDateTime
from pipeline.models.firms import Event, Recognition


class AuditRead(Base):
    """One read of firm data by an auditor: who looked at what, when (written in the same request)."""

    __tablename__ = "audit_reads"
    __table_args__ = (Index("ix_audit_reads_actor_id", "actor", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    query: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Anchor(Base):
    """A digest of every firm's chain head at one moment, to be published or handed to an external auditor.

    ``digest = sha256`` over the lines ``uscc,seq,hash\\n`` of the heads sorted by uscc; the heads themselves
    are kept in :class:`AnchorHead` so that the digest can be recomputed from the chains later.
    """

    __tablename__ = "anchors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    firms: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)
    """Ed25519 over the RFC 8785 form of ``{id, digest, firms, events, created_at}``, base64; null before
    anchors were signed."""
    public_key_id: Mapped[str | None] = mapped_column(String(64))


class AnchorHead(Base):
    __tablename__ = "anchor_heads"

    anchor_id: Mapped[int] = mapped_column(ForeignKey("anchors.id", ondelete="RESTRICT"), primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


# Indexes on the core tables, kept beside the queries that need them.
_events = Event.__table__
_recognitions = Recognition.__table__
Index("ix_events_tx_id_id", _events.c.tx_id, _events.c.id)  # the change feed's order
Index("ix_events_recorded_at", _events.c.recorded_at)  # auditor search by recorded time, known_at
Index("ix_events_actor_id", _events.c.actor, _events.c.id)  # auditor search by who
Index("ix_events_trigger_id", _events.c.trigger, _events.c.id)  # auditor search by trigger
Index("ix_events_effective_date", _events.c.effective_date)  # auditor search by decision date
Index("ix_recognitions_tier_recognized_on", _recognitions.c.tier, _recognitions.c.recognized_on,
      _recognitions.c.valid_until)  # roster and counts as of a date
