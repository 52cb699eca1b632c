"""An import's rows as plain records, and how a chunk of them reaches the database — the one place where the
dialects differ for imports.

The importer runs the domain's own steps (guards, :func:`pipeline.machine.fire`, :func:`pipeline.service.apply_titles`,
:func:`pipeline.audit.seal`) on the plain records below instead of ORM objects, and hands each chunk's result to
:func:`write_chunk`:

* PostgreSQL: new firm ids come from the sequence in one query; new firms, titles and events go in with ``COPY``
  (row triggers fire as for any insert, so ``events.tx_id`` is set for the change feed); the chunk's changed firms
  and titles are one ``UPDATE … FROM unnest(…)`` each.
* SQLite (the embedded default): Core ``executemany``; new firm ids are ``max(id) + 1 …``, safe because the
  writer lock is held from ``BEGIN IMMEDIATE`` on.

Firms are loaded (and, on PostgreSQL, locked ``FOR UPDATE`` so that concurrent writers serialise) with their chain
heads in one query and their titles in a second.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, and_, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from pipeline.models import Base, Enterprise, Event, Recognition

ENTERPRISES = Base.metadata.tables[Enterprise.__tablename__]
EVENTS = Base.metadata.tables[Event.__tablename__]
RECOGNITIONS = Base.metadata.tables[Recognition.__tablename__]

FIRM_COLUMNS = ("id", "uscc", "name", "region_code", "state", "version", "barred_until", "last_seq",
                "last_effective_date", "data", "flags", "created_at", "updated_at")
TITLE_COLUMNS = ("enterprise_id", "tier", "document_no", "batch", "recognized_on", "valid_until", "ended_on",
                 "end_reason", "granted_by_seq", "ended_by_seq")
EVENT_COLUMNS = ("enterprise_id", "uscc", "seq", "kind", "trigger", "from_state", "to_state", "effective_date",
                 "recorded_at", "actor", "reason_code", "reason", "evidence", "rulebook_id", "rulebook_hash",
                 "request_id", "prev_hash", "hash")


@dataclass(slots=True)
class TitleRecord:
    """A title row (:class:`pipeline.models.Recognition`'s columns); ``id`` is ``None`` until written."""

    tier: str
    recognized_on: dt.date
    valid_until: dt.date
    document_no: str | None = None
    batch: str | None = None
    ended_on: dt.date | None = None
    end_reason: str | None = None
    granted_by_seq: int = 0
    ended_by_seq: int | None = None
    id: int | None = None
    stored_end: tuple[dt.date | None, str | None, int | None] = (None, None, None)
    """``(ended_on, end_reason, ended_by_seq)`` as loaded: a stored title whose end differs is updated."""

    def valid_on(self, day: dt.date) -> bool:
        return self.recognized_on <= day <= self.valid_until and (self.ended_on is None or day < self.ended_on)

    def end_changed(self) -> bool:
        return (self.ended_on, self.end_reason, self.ended_by_seq) != self.stored_end


@dataclass(slots=True)
class FirmRecord:
    """A firm as the import needs it (the machine fires on it; ``apply_titles`` keeps its titles)."""

    uscc: str
    name: str
    region_code: str
    state: str
    version: int
    last_seq: int
    barred_until: dt.date | None
    last_effective_date: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    recognitions: list[TitleRecord] = field(default_factory=list)
    id: int | None = None
    """``None`` for a firm this chunk creates, until :func:`write_chunk` draws its id."""
    head_hash: str | None = None
    """The hash of the firm's latest event (the previous hash of its next one)."""
    head_import: dict[str, Any] | None = None
    """The ``import`` evidence of its latest stored event, if that event came from an import."""
    stored_version: int = 0
    """``version`` as loaded (0 for a new firm): a stored firm whose version moved is updated."""


@dataclass(slots=True)
class EventRecord:
    """An event row: the hashed fields of :data:`pipeline.audit.HASHED_FIELDS`, the chain links, and its firm."""

    firm: FirmRecord
    uscc: str
    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    effective_date: dt.date
    recorded_at: dt.datetime
    actor: str
    reason_code: str | None
    reason: str | None
    evidence: dict[str, Any]
    rulebook_id: str
    rulebook_hash: str
    request_id: str | None = None
    prev_hash: str = ""
    hash: str = ""


@dataclass
class ChunkWrites:
    """Everything a chunk changed: written by :func:`write_chunk` in one go."""

    new_firms: list[FirmRecord] = field(default_factory=list)
    firms: list[FirmRecord] = field(default_factory=list)
    """Stored firms the chunk loaded; those with new events are updated."""
    events: list[EventRecord] = field(default_factory=list)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def load_firms(session: Session, codes: Sequence[str]) -> dict[str, FirmRecord]:
    """The stored firms among ``codes`` with their titles and chain heads, locked for the transaction."""
    if not codes:
        return {}
    postgres = _postgres(session)
    e, head = ENTERPRISES.c, EVENTS.c
    query = (select(e.id, e.uscc, e.name, e.region_code, e.state, e.version, e.last_seq, e.barred_until,
                    e.last_effective_date, e.created_at, e.updated_at, head.hash, head.evidence)
             .select_from(ENTERPRISES.outerjoin(EVENTS, and_(head.uscc == e.uscc, head.seq == e.last_seq)))
             .where(_member(e.uscc, list(codes), String(), postgres)))
    if postgres:
        query = query.with_for_update(of=ENTERPRISES)
    firms: dict[int, FirmRecord] = {}
    for row in session.execute(query):
        evidence = row.evidence or {}
        imported = evidence.get("import") if isinstance(evidence, dict) else None
        firms[row.id] = FirmRecord(
            id=row.id, uscc=row.uscc, name=row.name, region_code=row.region_code, state=row.state,
            version=row.version, last_seq=row.last_seq, barred_until=row.barred_until,
            last_effective_date=row.last_effective_date, created_at=row.created_at, updated_at=row.updated_at,
            head_hash=row.hash, head_import=imported if isinstance(imported, dict) else None,
            stored_version=row.version)
    if firms:
        r = RECOGNITIONS.c
        titles = select(r.id, r.enterprise_id, r.tier, r.document_no, r.batch, r.recognized_on, r.valid_until,
                        r.ended_on, r.end_reason, r.granted_by_seq, r.ended_by_seq) \
            .where(_member(r.enterprise_id, list(firms), BigInteger(), postgres)).order_by(r.id)
        for t in session.execute(titles):
            firms[t.enterprise_id].recognitions.append(TitleRecord(
                id=t.id, tier=t.tier, document_no=t.document_no, batch=t.batch, recognized_on=t.recognized_on,
                valid_until=t.valid_until, ended_on=t.ended_on, end_reason=t.end_reason,
                granted_by_seq=t.granted_by_seq, ended_by_seq=t.ended_by_seq,
                stored_end=(t.ended_on, t.end_reason, t.ended_by_seq)))
    return {firm.uscc: firm for firm in firms.values()}


def _member(column: ColumnElement[Any], values: list[Any], item_type: TypeEngine[Any],
            postgres: bool) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of thousands."""
    if postgres:
        return column == any_(bindparam(None, values, type_=ARRAY(item_type)))
    return column.in_(values)


def write_chunk(session: Session, writes: ChunkWrites) -> None:
    """Insert the chunk's new firms, titles and events; update its changed stored firms and titles."""
    if not writes.events:
        return
    changed = [firm for firm in writes.firms if firm.version != firm.stored_version]
    firms = [*writes.new_firms, *changed]
    new_titles = [(firm, title) for firm in firms for title in firm.recognitions if title.id is None]
    ended = [title for firm in changed for title in firm.recognitions
             if title.id is not None and title.end_changed()]
    if _postgres(session):
        _PostgresWriter(session).write(writes.new_firms, changed, new_titles, ended, writes.events)
    else:
        _sqlite_write(session, writes.new_firms, changed, new_titles, ended, writes.events)


def _firm_row(firm: FirmRecord) -> tuple[Any, ...]:
    return (firm.id, firm.uscc, firm.name, firm.region_code, firm.state, firm.version, firm.barred_until,
            firm.last_seq, firm.last_effective_date, {}, {}, firm.created_at, firm.updated_at)


def _title_row(firm: FirmRecord, title: TitleRecord) -> tuple[Any, ...]:
    return (firm.id, title.tier, title.document_no, title.batch, title.recognized_on, title.valid_until,
            title.ended_on, title.end_reason, title.granted_by_seq, title.ended_by_seq)


EMPTY_JSON = "{}"


def _event_row(event: EventRecord) -> tuple[Any, ...]:
    return (event.firm.id, event.uscc, event.seq, event.kind, event.trigger, event.from_state, event.to_state,
            event.effective_date, event.recorded_at, event.actor, event.reason_code, event.reason, event.evidence,
            event.rulebook_id, event.rulebook_hash, event.request_id, event.prev_hash, event.hash)


class _PostgresWriter:
    def __init__(self, session: Session) -> None:
        self.connection: Any = session.connection().connection.driver_connection  # psycopg.Connection

    def write(self, new_firms: list[FirmRecord], changed: list[FirmRecord],
              new_titles: list[tuple[FirmRecord, TitleRecord]], ended: list[TitleRecord],
              events: list[EventRecord]) -> None:
        with self.connection.cursor() as cursor:
            if new_firms:
                cursor.execute("SELECT nextval(pg_get_serial_sequence('enterprises', 'id')) "
                               "FROM generate_series(1, %s)", (len(new_firms),))
                for firm, (new_id,) in zip(new_firms, sorted(cursor.fetchall()), strict=True):
                    firm.id = int(new_id)
                self._copy(cursor, "enterprises", FIRM_COLUMNS, (
                    (f.id, f.uscc, f.name, f.region_code, f.state, f.version, f.barred_until, f.last_seq,
                     f.last_effective_date, EMPTY_JSON, EMPTY_JSON, f.created_at, f.updated_at) for f in new_firms))
            if changed:
                cursor.execute(
                    "UPDATE enterprises AS e SET state = v.state, version = v.version, barred_until = v.barred_until, "
                    "last_seq = v.last_seq, last_effective_date = v.last_effective_date, updated_at = v.updated_at "
                    "FROM unnest(%s::bigint[], %s::varchar[], %s::int[], %s::date[], %s::int[], %s::date[], "
                    "%s::timestamptz[]) AS v(id, state, version, barred_until, last_seq, last_effective_date, "
                    "updated_at) WHERE e.id = v.id",
                    _columns([(f.id, f.state, f.version, f.barred_until, f.last_seq, f.last_effective_date,
                               f.updated_at) for f in changed], 7))
            if ended:
                cursor.execute(
                    "UPDATE recognitions AS r SET ended_on = v.ended_on, end_reason = v.end_reason, "
                    "ended_by_seq = v.ended_by_seq FROM unnest(%s::bigint[], %s::date[], %s::varchar[], %s::int[]) "
                    "AS v(id, ended_on, end_reason, ended_by_seq) WHERE r.id = v.id",
                    _columns([(t.id, t.ended_on, t.end_reason, t.ended_by_seq) for t in ended], 4))
            if new_titles:
                self._copy(cursor, "recognitions", TITLE_COLUMNS, (_title_row(f, t) for f, t in new_titles))
            self._copy(cursor, "events", EVENT_COLUMNS, (
                (e.firm.id, e.uscc, e.seq, e.kind, e.trigger, e.from_state, e.to_state, e.effective_date, e.recorded_at,
                 e.actor, e.reason_code, e.reason, json.dumps(e.evidence, ensure_ascii=False), e.rulebook_id,
                 e.rulebook_hash, e.request_id, e.prev_hash, e.hash) for e in events))

    @staticmethod
    def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)] if rows else [[] for _ in range(width)]


def _sqlite_write(session: Session, new_firms: list[FirmRecord], changed: list[FirmRecord],
                  new_titles: list[tuple[FirmRecord, TitleRecord]], ended: list[TitleRecord],
                  events: list[EventRecord]) -> None:
    connection = session.connection()
    if new_firms:
        # The writer lock is held since BEGIN IMMEDIATE: nobody else can insert a firm before we do.
        start = int(connection.scalar(select(func.coalesce(func.max(ENTERPRISES.c.id), 0))) or 0) + 1
        for offset, firm in enumerate(new_firms):
            firm.id = start + offset
        connection.execute(insert(ENTERPRISES), [dict(zip(FIRM_COLUMNS, _firm_row(f), strict=True))
                                                 for f in new_firms])
    if changed:
        e = ENTERPRISES.c
        connection.execute(update(ENTERPRISES).where(e.id == bindparam("firm_id")), [
            {"firm_id": f.id, "state": f.state, "version": f.version, "barred_until": f.barred_until,
             "last_seq": f.last_seq, "last_effective_date": f.last_effective_date, "updated_at": f.updated_at}
            for f in changed])
    if ended:
        connection.execute(update(RECOGNITIONS).where(RECOGNITIONS.c.id == bindparam("title_id")), [
            {"title_id": t.id, "ended_on": t.ended_on, "end_reason": t.end_reason, "ended_by_seq": t.ended_by_seq}
            for t in ended])
    if new_titles:
        connection.execute(insert(RECOGNITIONS), [dict(zip(TITLE_COLUMNS, _title_row(f, t), strict=True))
                                                  for f, t in new_titles])
    connection.execute(insert(EVENTS), [dict(zip(EVENT_COLUMNS, _event_row(e), strict=True)) for e in events])
