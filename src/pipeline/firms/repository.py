"""Firms in the database: load (and lock) a firm with its chain head, write its next event, read its history.

Every business action on a firm starts here, so the queries are written once.
企业仓储：加锁读取企业及其链头，写入下一条事件。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.errors import NotFound, VersionMismatch
from pipeline.identifiers import validate_uscc
from pipeline.lifecycle import chain
from pipeline.lifecycle.events import next_event
from pipeline.models import Enterprise, Event
from pipeline.rulebooks import Rulebook


def get_enterprise(session: Session, uscc: str, actor: Actor, *, for_update: bool = False) -> Enterprise:
    """The firm, if it exists and lies in the actor's jurisdiction; otherwise :class:`NotFound`.

    Outside the jurisdiction is indistinguishable from absent, so a caller learns nothing of other regions.
    ``for_update`` takes the row lock for the rest of the transaction (SQLite: the writer lock already held).
    """
    code = validate_uscc(uscc)
    query = select(Enterprise).where(Enterprise.uscc == code)
    if for_update:
        query = query.with_for_update()
    return in_jurisdiction(session.scalars(query).one_or_none(), actor, code)


def in_jurisdiction(enterprise: Enterprise | None, actor: Actor, code: str) -> Enterprise:
    if enterprise is None or not actor.covers(enterprise.region_code):
        raise NotFound(f"未找到企业{code} — no enterprise {code} in your jurisdiction")
    return enterprise


def lock_with_head(session: Session, uscc: str, actor: Actor) -> tuple[Enterprise, str | None]:
    """:func:`get_enterprise` with ``for_update``, plus the hash of the firm's last event read in the same
    statement (one round trip fewer, and no autoflush of a half-made change before the event is sealed).

    The hash is that of the event ``(uscc, last_seq)`` of the *locked* row. On PostgreSQL, a statement that
    waited for the lock re-reads the locked row at its newest version but evaluates the subquery in the
    snapshot taken when the statement began: the event that the lock holder appended is then invisible and
    the hash comes back NULL — never another event's hash, since ``(uscc, seq)`` is unique and events are
    immutable. ``None`` makes :func:`append_event` read the head in a statement of its own.
    (The recognitions are loaded by their own statement, after the lock, for the same reason.)
    """
    code = validate_uscc(uscc)
    head = (select(Event.hash).where(Event.uscc == Enterprise.uscc, Event.seq == Enterprise.last_seq)
            .correlate(Enterprise).scalar_subquery())
    row = session.execute(
        select(Enterprise, head).where(Enterprise.uscc == code).with_for_update(of=Enterprise)
    ).one_or_none()
    return in_jurisdiction(row[0] if row else None, actor, code), row[1] if row else None


def check_version(enterprise: Enterprise, expected_version: int | None) -> None:
    """Refuse a write made against a stale copy of the firm (``If-Match``)."""
    if expected_version is not None and expected_version != enterprise.version:
        raise VersionMismatch(
            f"企业{enterprise.uscc}已被修改（当前版本{enterprise.version}） — expected version {expected_version}, "
            f"the firm is at version {enterprise.version}; reload it and retry",
            current_version=enterprise.version,
        )


def head_hash(session: Session, enterprise: Enterprise) -> str:
    """The hash of the firm's latest event (the genesis hash for a firm with none)."""
    found = session.scalars(
        select(Event.hash).where(Event.uscc == enterprise.uscc, Event.seq == enterprise.last_seq)
    ).one_or_none()
    return found or chain.GENESIS_HASH


def append_event(
    session: Session,
    enterprise: Enterprise,
    *,
    kind: str,
    trigger: str | None,
    from_state: str | None,
    effective_date: dt.date,
    actor: Actor,
    rulebook: Rulebook,
    reason_code: str | None = None,
    reason: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    previous_hash: str | None = None,
    flush: bool = True,
) -> Event:
    """Make the firm's next event with :func:`pipeline.lifecycle.events.next_event` and add it. Callers that
    already know the chain's head pass ``previous_hash``; batch callers pass ``flush=False``."""
    record = next_event(
        enterprise, kind=kind, trigger=trigger, from_state=from_state, effective_date=effective_date,
        actor_id=actor.id, rulebook=rulebook, reason_code=reason_code, reason=reason, evidence=evidence,
        request_id=request_id, enterprise_id=enterprise.id,
        previous_hash=previous_hash if previous_hash is not None else head_hash(session, enterprise),
    )
    event = Event(**record.columns())
    session.add(event)
    if flush:
        session.flush()
    return event


def history(session: Session, enterprise: Enterprise) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.uscc == enterprise.uscc).order_by(Event.seq)))
