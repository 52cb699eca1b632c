"""The auditor read log: every read of firm data by an auditor is itself recorded, in the same transaction
as the read, so that who looked at what and when is as durable as the data looked at."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.models.audit import AuditRead

LOGGED_ROLES = ("auditor",)


def record_read(session: Session, actor: Actor, *, route: str, uscc: str | None = None, query: str | None = None,
                request_id: str | None = None) -> AuditRead | None:
    """Log the read when ``actor`` is an auditor; other roles' reads are not logged."""
    if actor.role not in LOGGED_ROLES:
        return None
    entry = AuditRead(actor=actor.id, route=route[:200], uscc=(uscc or None) and uscc[:18].upper(),
                      query=query or None, request_id=request_id, read_at=utc_now())
    session.add(entry)
    session.flush()
    return entry


def list_reads(session: Session, *, actor_id: str | None = None, uscc: str | None = None, before_id: int | None = None,
               limit: int = 100) -> list[AuditRead]:
    """Newest first, keyset by id."""
    query = select(AuditRead).order_by(AuditRead.id.desc()).limit(limit)
    if actor_id is not None:
        query = query.where(AuditRead.actor == actor_id)
    if uscc is not None:
        query = query.where(AuditRead.uscc == uscc.upper())
    if before_id is not None:
        query = query.where(AuditRead.id < before_id)
    return list(session.scalars(query))
