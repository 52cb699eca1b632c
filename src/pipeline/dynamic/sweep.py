"""The expiry sweep (有效期届满处理): every title past its validity end without renewal ends by ``expire``.

A firm's state is its highest valid title. When the title that carries the state has lapsed, the sweep
fires ``expire`` as the ``system`` actor: the firm lands on its highest title still valid on the event's
date, or on ``reserve``, and every lapsed lower title ends with it
(:func:`pipeline.lifecycle.decide.apply_titles`). If the landing title has lapsed by the sweep date too, a
second ``expire`` follows, dated after its own end.

**The effective date of an expire event** is the day after the lapsed title's ``valid_until`` — the first
day it was no longer valid — moved forward to the firm's latest event date when that is later (events are
never dated before a firm's latest event). A title is valid through its ``valid_until``: a sweep
``--as-of D`` expires titles with ``valid_until < D``, so a title ending on D is still valid on D. An
event is never dated after ``as_of``; a firm whose latest event is later than ``as_of`` is left for a
later sweep and reported as skipped.

**Safe to repeat, safe to race.** Firms are worked in batches, one transaction per batch (``scopes``
yields the session of each). Each batch locks its firms (``SELECT … FOR UPDATE`` in id order) and
re-checks every firm under the lock, so a second run for the same date, or a concurrent sweep that
lost the race for a firm, finds nothing left to do there.

**At province scale.** A batch is read as plain records (:mod:`pipeline.firms.records`) and written by the
bulk writer of imports (COPY and ``UPDATE … FROM unnest`` on PostgreSQL); with a session per batch, a batch
is written and committed on a second thread while the next one is locked and decided. The decisions are the
kernel's (:func:`pipeline.lifecycle.decide.decide`) and the events the factory's
(:func:`pipeline.lifecycle.events.next_event`), as for every other write.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, and_, select
from sqlalchemy.orm import Session

from pipeline.access import SYSTEM, Actor, require_permission
from pipeline.dates import business_today
from pipeline.db import member_of
from pipeline.errors import InvalidInput
from pipeline.firms.records import FirmRecord, TitleRecord
from pipeline.firms.repository import WRITTEN_EVENTS
from pipeline.imports.bulk import ChunkWriter, ChunkWrites
from pipeline.lifecycle.chain import GENESIS_HASH
from pipeline.lifecycle.decide import EXPIRY_REASON_CODE, PlainFirm, StoredFirm, decide, due_expiries, lapsed_top
from pipeline.lifecycle.events import TRANSITION, EventRecord, next_event
from pipeline.lifecycle.guards import PlainTitle
from pipeline.models import Enterprise, Event, Recognition
from pipeline.rulebooks import Rulebook, rulebook_in_force
from pipeline.titles.service import sweep_side_titles

REASON = "有效期届满未复核，称号自动失效 — the title's validity ended without renewal"
DEFAULT_BATCH_SIZE = 1000

Scopes = Callable[[], AbstractContextManager[Session]]
"""Opens the session (and transaction) of one batch: ``unit_of_work`` per batch, or one shared session."""


@dataclass(frozen=True)
class SweepItem:
    """One ``expire`` event the sweep fires (or would fire, in a dry run)."""

    uscc: str
    region_code: str
    tier: str
    """The lapsed title that carried the firm's state."""
    valid_until: dt.date
    effective_date: dt.date
    from_state: str
    to_state: str
    ended_titles: tuple[str, ...]
    seq: int | None = None
    """The event's seq once applied; ``None`` in a dry run."""


@dataclass
class SweepReport:
    as_of: dt.date
    applied: bool
    candidates: int = 0
    firms_expired: int = 0
    events: int = 0
    by_tier: Counter[str] = field(default_factory=Counter)
    """Expire events per lapsed tier (the title that carried the state)."""
    ended_titles: Counter[str] = field(default_factory=Counter)
    """Title rows ended, per tier (lower lapsed titles included)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(uscc, why) of firms with a lapsed title the sweep could not date on or before ``as_of``."""
    side_titles_ended: Counter[str] = field(default_factory=Counter)
    """Side titles (单项冠军, 高新技术企业 …) ended as lapsed, per kind (:mod:`pipeline.titles`)."""


# --- planning: the pure part, shared by the dry run --------------------------------------------------


def plan_firm(firm: StoredFirm, uscc: str, region_code: str, as_of: dt.date, today: dt.date,
              ) -> tuple[list[SweepItem], str | None]:
    """The expire events a firm needs as of ``as_of``, decided on a copy (the firm is not touched); and why
    it is skipped, if so. The same kernel as :func:`expire_locked`, so a dry run reports what apply does."""
    return expire(PlainFirm.copy_of(firm), uscc, region_code, as_of, today, write=None)


def expire(
    firm: StoredFirm, uscc: str, region_code: str, as_of: dt.date, today: dt.date, *,
    write: Callable[[str, dt.date, Rulebook, dict[str, Any]], int] | None, actor: Actor = SYSTEM,
) -> tuple[list[SweepItem], str | None]:
    """Fire every ``expire`` the firm needs by ``as_of`` through :func:`pipeline.lifecycle.decide.decide`;
    ``write(from_state, day, rulebook, evidence)`` records each event and returns its seq (``None``: dry run)."""
    items: list[SweepItem] = []
    for day, top in due_expiries(firm, as_of):
        rulebook = rulebook_in_force(day)
        valid_until = top.valid_until
        from_state, recorded = decide(
            firm, "expire", day, actor=actor, rulebook=rulebook, today=today, reason_code=EXPIRY_REASON_CODE,
            reason=REASON, facts={}, new_title=PlainTitle if write is None else TitleRecord,
        )
        if write is not None:
            seq: int | None = write(from_state, day, rulebook, recorded)
        else:  # a dry run keeps the copy's books as the event factory keeps the firm's
            next_event(firm, kind=TRANSITION, trigger="expire", from_state=from_state, effective_date=day,
                       actor_id=actor.id, rulebook=rulebook, previous_hash=GENESIS_HASH)
            seq = None
        items.append(SweepItem(uscc, region_code, from_state, valid_until, day, from_state, firm.state,
                               tuple(recorded["ended_titles"]), seq))
    if lapsed_top(firm.state, firm.recognitions, as_of) is not None:
        return items, f"latest event {firm.last_effective_date} is after {as_of}"
    return items, None


# --- applying: under the row lock ---------------------------------------------------------------------


def expire_locked(
    firm: FirmRecord, as_of: dt.date, *, evidence: dict[str, Any], today: dt.date, events: list[EventRecord],
    actor: Actor = SYSTEM, request_id: str | None = None,
) -> tuple[list[SweepItem], str | None]:
    """Expire a firm's lapsed titles on its plain record (the caller holds its row lock and loaded its titles
    and chain head after taking it), appending each sealed event to ``events``. Nothing to do → ``([], None)``.

    The same kernel and event factory as ``service.transition``; only the reads and writes are batched (the
    caller loads many firms at once and writes the batch's rows in a few statements).
    """
    head = firm.head_hash or GENESIS_HASH

    def write(from_state: str, day: dt.date, rulebook: Rulebook, recorded: dict[str, Any]) -> int:
        nonlocal head
        event = next_event(
            firm, kind=TRANSITION, trigger="expire", from_state=from_state, effective_date=day, actor_id=actor.id,
            rulebook=rulebook, reason_code=EXPIRY_REASON_CODE, reason=REASON, evidence={**recorded, **evidence},
            request_id=request_id, enterprise_id=firm.id, previous_hash=head,
        )
        head = event.hash
        events.append(event)
        return event.seq

    return expire(firm, firm.uscc, firm.region_code, as_of, today, write=write, actor=actor)


def candidate_ids(session: Session, as_of: dt.date, region_prefix: str | None = None) -> list[int]:
    """Firms whose state-carrying title has an open row with ``valid_until < as_of`` (re-checked later)."""
    query = (
        select(Recognition.enterprise_id)
        .join(Enterprise, Enterprise.id == Recognition.enterprise_id)
        .where(Recognition.ended_on.is_(None), Recognition.valid_until < as_of, Recognition.tier == Enterprise.state)
        .distinct()
        .order_by(Recognition.enterprise_id)
    )
    if region_prefix:
        query = query.where(Enterprise.region_code.startswith(region_prefix))
    return list(session.scalars(query))


_FIRMS = Enterprise.__table__.c
_TITLES = Recognition.__table__.c


def _among(column: Any, ids: Sequence[int], postgres: bool) -> Any:
    return member_of(column, list(ids), BigInteger(), postgres=postgres)


def load_records(session: Session, ids: Sequence[int], *, lock: bool) -> list[FirmRecord]:
    """A batch of firms as plain records with their titles and (``lock``) chain heads, as Core rows.

    With ``lock`` the firms' rows are locked first, in id order (concurrent sweeps take the same locks in the
    same order, so never deadlock), and their titles and heads are read by statements that start after the
    locks are held — so they are what the lock holders before us committed."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    query = (select(_FIRMS.id, _FIRMS.uscc, _FIRMS.name, _FIRMS.region_code, _FIRMS.state, _FIRMS.version,
                    _FIRMS.last_seq, _FIRMS.barred_until, _FIRMS.last_effective_date, _FIRMS.created_at,
                    _FIRMS.updated_at)
             .where(_among(_FIRMS.id, ids, postgres)).order_by(_FIRMS.id))
    if lock:
        query = query.with_for_update()
    firms = {row.id: FirmRecord(
        id=row.id, uscc=row.uscc, name=row.name, region_code=row.region_code, state=row.state, version=row.version,
        last_seq=row.last_seq, barred_until=row.barred_until, last_effective_date=row.last_effective_date,
        created_at=row.created_at, updated_at=row.updated_at, stored_version=row.version)
        for row in connection.execute(query).all()}
    if not firms:
        return []
    titles = (select(_TITLES.id, _TITLES.enterprise_id, _TITLES.tier, _TITLES.document_no, _TITLES.batch,
                     _TITLES.recognized_on, _TITLES.valid_until, _TITLES.ended_on, _TITLES.end_reason,
                     _TITLES.granted_by_seq, _TITLES.ended_by_seq)
              .where(_among(_TITLES.enterprise_id, list(firms), postgres)).order_by(_TITLES.id))
    for t in connection.execute(titles).all():
        firms[t.enterprise_id].recognitions.append(TitleRecord(
            id=t.id, tier=t.tier, document_no=t.document_no, batch=t.batch, recognized_on=t.recognized_on,
            valid_until=t.valid_until, ended_on=t.ended_on, end_reason=t.end_reason, granted_by_seq=t.granted_by_seq,
            ended_by_seq=t.ended_by_seq, stored_end=(t.ended_on, t.end_reason, t.ended_by_seq)))
    if lock:
        heads = (select(_FIRMS.id, Event.hash)
                 .join(Event, and_(Event.uscc == _FIRMS.uscc, Event.seq == _FIRMS.last_seq))
                 .where(_among(_FIRMS.id, list(firms), postgres)))
        for firm_id, digest in connection.execute(heads).all():
            firms[firm_id].head_hash = digest
    return list(firms.values())


@dataclass
class _Written:
    """A batch handed to the writer thread: reported once ``future`` says it committed."""

    future: Future[None] | None
    """``None``: written and committed before it was handed over."""
    session: Session
    items: list[SweepItem]
    firms: int


def _write_and_commit(scope: AbstractContextManager[Session], session: Session, firms: list[FirmRecord],
                      events: list[EventRecord]) -> None:
    """Write a decided batch and leave its scope (which commits it); on any error the scope rolls it back."""
    try:
        _write(session, firms, events)
    except BaseException:
        if not scope.__exit__(*sys.exc_info()):
            raise
        return
    scope.__exit__(None, None, None)


def _write(session: Session, firms: list[FirmRecord], events: list[EventRecord]) -> None:
    """The batch's changed firms and titles and its new events, in a few statements (the bulk writer of
    imports: COPY and ``UPDATE … FROM unnest`` on PostgreSQL, executemany on SQLite); any ORM copy of these
    firms in the session is expired, and the events are noted for whoever counts committed ones."""
    if not events:
        return
    writer = ChunkWriter(session)
    try:
        writer.prepare(ChunkWrites(firms=firms, events=events))
        writer.flush()
    finally:
        writer.close()
    changed = {firm.id for firm in firms if firm.version != firm.stored_version}
    for instance in list(session.identity_map.values()):
        if (isinstance(instance, Enterprise) and instance.id in changed) or (
                isinstance(instance, Recognition) and instance.enterprise_id in changed):
            session.expire(instance)
    session.info.setdefault(WRITTEN_EVENTS, []).extend((e.kind, e.trigger or e.kind) for e in events)


def sweep(
    scopes: Scopes,
    as_of: dt.date,
    *,
    apply: bool,
    requested_by: Actor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_item: Callable[[SweepItem], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    request_id: str | None = None,
) -> SweepReport:
    """Find (and with ``apply`` expire) every lapsed title as of ``as_of`` in ``requested_by``'s jurisdiction.

    Events are recorded by :data:`pipeline.access.SYSTEM`; ``requested_by`` (who started the sweep) is
    kept in their evidence and must hold the ``expire`` permission to apply. Each item is passed to
    ``on_item`` as it is decided, so a long sweep streams its output instead of holding it.
    """
    today = business_today()
    if as_of > today:
        raise InvalidInput(f"清理日期{as_of}晚于今天{today} — as_of {as_of} is in the future (today is {today})",
                           field="as_of")
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1", field="batch_size")
    if apply:
        require_permission(rulebook_in_force(as_of), requested_by, "expire")
    report = SweepReport(as_of=as_of, applied=apply)
    with scopes() as session:
        ids = candidate_ids(session, as_of, requested_by.region_prefix)
    report.candidates = len(ids)
    evidence = {"source": {"sweep": {"as_of": as_of.isoformat(), "requested_by": requested_by.id}}}
    done = 0
    in_flight: _Written | None = None

    def reported(batch: _Written) -> None:
        """A batch's items, once its transaction has committed — nothing printed is later rolled back."""
        nonlocal done
        if batch.future is not None:
            batch.future.result()
        for item in batch.items:
            report.events += 1
            report.by_tier[item.tier] += 1
            report.ended_titles.update(item.ended_titles)
            if on_item:
                on_item(item)
        done += batch.firms
        if on_progress:
            on_progress(done, len(ids))

    # On PostgreSQL, with a session per batch, a batch is written and committed on a second thread while the
    # next one is locked, loaded and decided (batches hold disjoint firms): the database's work overlaps
    # Python's. A batch is written only once the one before it committed, so a failed batch stops the sweep.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-writer") as writer:
        try:
            for start in range(0, len(ids), batch_size):
                chunk = ids[start:start + batch_size]
                decided: list[SweepItem] = []
                scope = scopes()
                session = scope.__enter__()
                try:
                    if in_flight is not None and in_flight.session is session:  # one shared session
                        previous, in_flight = in_flight, None
                        reported(previous)
                    firms = load_records(session, chunk, lock=apply)
                    events: list[EventRecord] = []
                    for firm in firms:
                        if apply:
                            items, skipped = expire_locked(firm, as_of, evidence=evidence, today=today,
                                                           events=events, request_id=request_id)
                        else:
                            items, skipped = plan_firm(firm, firm.uscc, firm.region_code, as_of, today)
                        if skipped:
                            report.skipped.append((firm.uscc, skipped))
                        report.firms_expired += bool(items)
                        decided.extend(items)
                    if in_flight is not None:
                        previous, in_flight = in_flight, None
                        reported(previous)
                except BaseException:
                    if not scope.__exit__(*sys.exc_info()):
                        raise
                    raise
                args = (scope, session, firms, events if apply else [])
                if session.get_bind().dialect.name == "postgresql":
                    in_flight = _Written(writer.submit(_write_and_commit, *args), session, decided, len(chunk))
                else:  # SQLite: one connection, one thread
                    _write_and_commit(*args)
                    reported(_Written(None, session, decided, len(chunk)))
        except BaseException:
            if in_flight is not None and in_flight.future is not None and in_flight.future.exception() is None:
                reported(in_flight)  # it committed: say so before the error is raised
            raise
        if in_flight is not None:
            reported(in_flight)
    report.side_titles_ended.update(item.kind for item in sweep_side_titles(
        scopes, as_of, apply=apply, requested_by=requested_by, evidence=evidence, request_id=request_id))
    return report
