"""An import's rows as plain records, and how a chunk of them reaches the database — the one place where the
dialects differ for imports.

The importer runs the domain's own steps (guards, :func:`pipeline.lifecycle.machine.fire`,
:func:`pipeline.lifecycle.decide.apply_titles`, :func:`pipeline.lifecycle.chain.seal`) on the plain records
below instead of ORM objects, and hands each chunk's result to
a :class:`ChunkWriter`:

* PostgreSQL: new firm ids come from the sequence in one query; new firms, titles and events go in with ``COPY``
  (row triggers fire as for any insert, so ``events.tx_id`` is set for the change feed); the chunk's changed firms
  and titles are one ``UPDATE … FROM unnest(…)`` each. The database writes one chunk — and then loads the chunk
  after next — while Python computes the next (one worker thread on the same connection; the importer leaves
  the session alone while its loads run).
* SQLite (the embedded default): Core ``executemany`` on the importer's thread; new firm ids are
  ``max(id) + 1 …``, safe because the writer lock is held from ``BEGIN IMMEDIATE`` on.

Firms are loaded (and, on PostgreSQL, locked ``FOR UPDATE`` so that concurrent writers serialise) with their chain
heads in one query and their titles in a second; id lists go to PostgreSQL as one array parameter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.db import (
    PendingRows,
    bulk_write_plans,
    copy_data,
    json_document,
    json_text,
    member_of,
    pending_rows,
    per_firm,
    quick_handoffs,
    send_copy,
)
from pipeline.errors import Conflict
from pipeline.firms.records import FirmRecord, TitleRecord
from pipeline.lifecycle.chain import format_timestamp
from pipeline.lifecycle.events import EventRecord
from pipeline.models import Base, Enterprise, Event, Recognition

ENTERPRISES = Base.metadata.tables[Enterprise.__tablename__]
EVENTS = Base.metadata.tables[Event.__tablename__]
RECOGNITIONS = Base.metadata.tables[Recognition.__tablename__]
T = TypeVar("T")

FIRM_COLUMNS = ("id", "uscc", "name", "region_code", "state", "version", "barred_until", "last_seq",
                "last_effective_date", "data", "flags", "created_at", "updated_at")
TITLE_COLUMNS = ("enterprise_id", "tier", "document_no", "batch", "recognized_on", "valid_until", "ended_on",
                 "end_reason", "granted_by_seq", "ended_by_seq")
EVENT_COLUMNS = ("enterprise_id", "uscc", "seq", "kind", "trigger", "from_state", "to_state", "effective_date",
                 "recorded_at", "actor", "reason_code", "reason", "evidence", "rulebook_id", "rulebook_hash",
                 "request_id", "prev_hash", "hash", "hash_recipe")


@dataclass
class ChunkWrites:
    """Everything a chunk changed: written by a :class:`ChunkWriter` in one go."""

    new_firms: list[FirmRecord] = field(default_factory=list)
    firms: list[FirmRecord] = field(default_factory=list)
    """Stored firms the chunk loaded; those with new events are updated."""
    events: list[EventRecord] = field(default_factory=list)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass
class FetchedFirms:
    """A chunk's firm and title rows as the database returned them. :meth:`records` makes them records: the
    importer does that on its computing thread, so that the writer's thread, whose database work is what the
    import waits for, goes on to its next statement at once."""

    firms: Sequence[Any] | PendingRows = ()
    titles: Sequence[Any] | PendingRows = ()
    ids: list[int] = field(default_factory=list)
    """The firms' ids, in the rows' order."""

    def records(self) -> dict[str, FirmRecord]:
        firms: dict[int, FirmRecord] = {}
        for (firm_id, uscc, name, region_code, state, version, last_seq, barred_until, last_effective_date,
             created_at, updated_at, head) in _made(self.firms):
            head_hash, imported = head if head is not None else (None, None)
            if isinstance(imported, str):  # PostgreSQL sends it as text, parsed only for a firm this run wrote
                imported = json_document(imported)
            firms[firm_id] = FirmRecord(
                id=firm_id, uscc=uscc, name=name, region_code=region_code, state=state, version=version,
                last_seq=last_seq, barred_until=barred_until, last_effective_date=last_effective_date,
                created_at=created_at, updated_at=updated_at, head_hash=head_hash,
                head_import=imported if isinstance(imported, dict) else None, stored_version=version)
        for (title_id, firm_id, tier, document_no, batch, recognized_on, valid_until, ended_on, end_reason,
             granted_by_seq, ended_by_seq) in _made(self.titles):
            firms[firm_id].recognitions.append(TitleRecord(
                id=title_id, tier=tier, document_no=document_no, batch=batch, recognized_on=recognized_on,
                valid_until=valid_until, ended_on=ended_on, end_reason=end_reason, granted_by_seq=granted_by_seq,
                ended_by_seq=ended_by_seq, stored_end=(ended_on, end_reason, ended_by_seq)))
        return {firm.uscc: firm for firm in firms.values()}


def _made(rows: Sequence[Any] | PendingRows) -> Sequence[Any]:
    return rows.rows() if isinstance(rows, PendingRows) else rows


def fetch_firms(session: Session, codes: Sequence[str], run_id: int) -> FetchedFirms:
    """The stored firms among ``codes`` with their chain heads, locked for the transaction, and their titles: as
    rows (:meth:`FetchedFirms.records` makes the records).

    ``head_import`` is the head event's ``import`` evidence when that event was written by import run ``run_id``
    (the only case the importer looks at it, to name a duplicate row across chunks): on PostgreSQL the other
    heads' evidence is not even sent, nor parsed.

    On PostgreSQL a firm another writer held when the locking statement reached it comes back without its chain
    head (see :data:`_LOAD_FIRMS`): the chunk is read again — its locks are the caller's now, so the new statement
    sees what the holder committed."""
    if not codes:
        return FetchedFirms()
    if _postgres(session):
        firms = pending_rows(session, _LOAD_FIRMS, (run_id, list(codes)))
        if None in firms.column(_HEAD):
            firms = pending_rows(session, _LOAD_FIRMS, (run_id, list(codes)))
            if None in firms.column(_HEAD):
                raise Conflict("企业的事件链头缺失 — a firm's latest event could not be read after its lock was taken; "
                               "nothing of this import was written: run it again")
        if not firms:
            return FetchedFirms()
        ids = [int(value) for value in firms.column(0) if value is not None]
        return FetchedFirms(firms, pending_rows(session, _LOAD_TITLES, (ids,)), ids)
    e, h, r = ENTERPRISES.c, EVENTS.c, RECOGNITIONS.c
    query = (select(e.id, e.uscc, e.name, e.region_code, e.state, e.version, e.last_seq, e.barred_until,
                    e.last_effective_date, e.created_at, e.updated_at, h.hash, h.evidence["import"].label("imported"))
             .select_from(ENTERPRISES.outerjoin(EVENTS, and_(h.uscc == e.uscc, h.seq == e.last_seq)))
             .where(member_of(e.uscc, list(codes), String(), postgres=False)))
    rows = [(*row[:11], None if row.hash is None else (row.hash, row.imported)) for row in session.execute(query)]
    if not rows:
        return FetchedFirms()
    ids = [row[0] for row in rows]
    titles = per_firm(select(r.id, r.enterprise_id, r.tier, r.document_no, r.batch, r.recognized_on, r.valid_until,
                             r.ended_on, r.end_reason, r.granted_by_seq, r.ended_by_seq),
                      r.enterprise_id, ids, False, r.id)
    return FetchedFirms(rows, session.execute(titles).all(), ids)


# The two loads on PostgreSQL, written out and sent on the driver's cursor: built and compiled by SQLAlchemy and
# their rows wrapped by it, they cost the writer's thread — on which the import waits — twice the CPU time.
# The head by its (uscc, seq) index, firm by firm, in a scalar subquery: a statement that waited for a firm's row
# lock reads the row at its newest version (the holder's last_seq) but evaluates the subquery in the snapshot it
# began with, where the holder's event is invisible — so the head comes back NULL, never an older event's hash
# (a LATERAL join was not evaluated again: it kept the head of the row as first read, and the import chained its
# event to the event before the holder's). NULL sends the chunk to be loaded again (fetch_firms). Its two values —
# the hash and, for an event of this run, its ``import`` evidence as text — as one array; jsonb = compares numbers
# as numbers (5 = 5.0), as Python's == does. The titles: firm by firm, as pipeline.db.per_firm reads them (an
# IN (…) on stale statistics scans the whole table). The id lists go in binary (%b): psycopg's text form of a list
# searches each value for characters to quote, 2.7 ms for 2,000 codes.
_LOAD_FIRMS = (
    "SELECT e.id, e.uscc, e.name, e.region_code, e.state, e.version, e.last_seq, e.barred_until, "
    "e.last_effective_date, e.created_at, e.updated_at, (SELECT ARRAY[h.hash, CASE WHEN "
    "h.evidence -> 'import' -> 'run' = to_jsonb(%s::int) THEN (h.evidence -> 'import')::text END] "
    "FROM events AS h WHERE h.uscc = e.uscc AND h.seq = e.last_seq) "
    "FROM enterprises AS e WHERE e.uscc = ANY(%b::varchar[]) FOR UPDATE OF e")
_HEAD = 11
"""The column of :data:`_LOAD_FIRMS` holding the head."""
_LOAD_TITLES = (
    "SELECT r.id, r.enterprise_id, r.tier, r.document_no, r.batch, r.recognized_on, r.valid_until, r.ended_on, "
    "r.end_reason, r.granted_by_seq, r.ended_by_seq "
    "FROM unnest(%b::bigint[]) AS firm(id) JOIN LATERAL ("
    "SELECT * FROM recognitions WHERE recognitions.enterprise_id = firm.id OFFSET 0) AS r ON true "
    "ORDER BY firm.id, r.id")


class ChunkWriter:
    """Writes an import's chunks; on PostgreSQL on a second thread while the next chunk is computed.

    The importer calls, per chunk: :meth:`start` (begin writing the previous chunk), then computes, then
    :meth:`join` and :meth:`prepare` (draw ids, snapshot the rows), so the database's work overlaps Python's.
    :meth:`submit` queues other work behind the writes — the next chunk's loads, on the importer's session —
    whose result the caller waits for before it touches the session again. New firms' ids: work submitted that
    way draws them ahead (:meth:`reserve_ids`, on the writer's thread, as a chunk's loads find which of its codes
    are new), so that :meth:`prepare` — on the computing thread — need not wait for the connection while a chunk
    is being written; it draws what the reserve lacks itself. SQLite writes in :meth:`start` and runs submitted
    work on the calling thread. :meth:`close` waits for any work in flight (always call it).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = _postgres(session)
        self._job: _PostgresJob | _SqliteJob | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._writing: Future[None] | None = None
        self._connection: Any = None
        self._handoffs: contextlib.ExitStack | None = None
        self._reserved: deque[int] = deque()
        self._planned = False
        """The bulk plans are held for the chunks (:meth:`bulk_plans`): a chunk's writes need not set them."""

    @contextlib.contextmanager
    def bulk_plans(self) -> Iterator[None]:
        """Inside: the chunks' writes — and the loads between them — are planned as
        :func:`pipeline.db.bulk_write_plans` plans them, set once (PostgreSQL) instead of once a chunk (two
        statements fewer a chunk, on the writer's thread, which the import waits for); the last chunk is written
        before they are put back. The loads read firms, titles and filings by key, the same plans either way."""
        if not self.postgres:
            yield
            return
        with self._driver().cursor() as cursor, bulk_write_plans(cursor):
            self._planned = True
            try:
                yield
                self.flush()
            except BaseException:
                self.close()  # no statement of the writer's thread may run beside the settings' restore
                raise
            finally:
                self._planned = False

    def reserve_ids(self, count: int) -> None:
        """Draw ``count`` new firms' ids ahead, for :meth:`prepare` to hand out in the order drawn (PostgreSQL: from
        the sequence, on the calling thread, which holds the connection — the writer's, in submitted work). Ids
        drawn and never handed out are gaps in the sequence, as a rolled-back insert leaves."""
        if self.postgres and count > 0:
            self._reserved.extend(self._draw(count))

    def prepare(self, writes: ChunkWrites) -> None:
        """Take a computed chunk: its new firms get their ids and every row is copied out of the records."""
        assert self._job is None, "the previous chunk was not started"
        assert self._writing is None, "the previous chunk was not joined"
        if not writes.events:
            return
        changed = [firm for firm in writes.firms if firm.version != firm.stored_version]
        new_titles = [(firm, title) for firm in (*writes.new_firms, *changed) for title in firm.recognitions
                      if title.id is None]
        ended = [title for firm in changed for title in firm.recognitions
                 if title.id is not None and title.end_changed()]
        self._assign_ids(writes.new_firms)
        new_ids = {firm.uscc: firm.id for firm in writes.new_firms}
        for event in writes.events:
            if event.enterprise_id is None:
                event.enterprise_id = new_ids[event.uscc]
        if self.postgres:
            self._job = _PostgresJob(self._driver(), writes.new_firms, changed, new_titles, ended, writes.events)
        else:
            self._job = _SqliteJob(writes.new_firms, changed, new_titles, ended, writes.events)

    def start(self) -> None:
        """Begin writing the prepared chunk, if any."""
        job, self._job = self._job, None
        if job is None:
            return
        if isinstance(job, _PostgresJob):
            self._writing = self._worker().submit(_write, job, self._driver(), self._planned)
        else:
            try:
                job.run(self.session.connection())
            except IntegrityError:
                raise _concurrent_write() from None

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` after the writes started before it: on the writer's thread on PostgreSQL (the caller
        leaves the session alone until the result is in), at once on SQLite."""
        if self.postgres:
            self._driver()  # known before the thread may use the session
            return self._worker().submit(work)
        done: Future[T] = Future()
        try:
            done.set_result(work())
        except BaseException as exc:
            done.set_exception(exc)
        return done

    def join(self) -> None:
        """Wait until the chunk being written is written; raise what writing it raised."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def flush(self) -> None:
        self.start()
        self.join()

    def close(self) -> None:
        """Wait for work in flight, drop what has not started and a prepared chunk (after an error, before the
        rollback; and at the end)."""
        self._job = None
        self._writing = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._handoffs is not None:
            self._handoffs.close()
            self._handoffs = None

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._handoffs = contextlib.ExitStack()
            self._handoffs.enter_context(quick_handoffs())
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        return self._pool

    def _driver(self) -> Any:
        """The session's psycopg connection (its transaction's, for the whole import)."""
        if self._connection is None:
            self._connection = self.session.connection().connection.driver_connection
        return self._connection

    def _draw(self, count: int) -> list[int]:
        with self._driver().cursor() as cursor:
            drawn = cursor.execute("SELECT nextval(pg_get_serial_sequence('enterprises', 'id')) "
                                   "FROM generate_series(1, %s)", (count,)).fetchall()
        return sorted(int(value) for (value,) in drawn)

    def _assign_ids(self, firms: list[FirmRecord]) -> None:
        if not firms:
            return
        if self.postgres:
            reserved = self._reserved
            ids = [reserved.popleft() for _ in range(min(len(firms), len(reserved)))]
            if len(ids) < len(firms):
                ids += self._draw(len(firms) - len(ids))
        else:
            # The writer lock is held since BEGIN IMMEDIATE: nobody else can insert a firm before we do.
            top = int(self.session.scalar(select(func.coalesce(func.max(ENTERPRISES.c.id), 0))) or 0)
            ids = list(range(top + 1, top + 1 + len(firms)))
        for firm, firm_id in zip(firms, ids, strict=True):
            firm.id = firm_id


def _write(job: _PostgresJob, connection: Any, planned: bool) -> None:
    try:
        job.run(connection, planned)
    except psycopg.errors.UniqueViolation:
        raise _concurrent_write() from None


def _concurrent_write() -> Conflict:
    return Conflict("另一操作同时写入了同一企业 — another import or enrolment wrote one of these firms at the same "
                    "time; nothing of this import was written: run it again")


EMPTY_JSON = "{}"


def _firm_row(f: FirmRecord) -> tuple[Any, ...]:
    return (f.id, f.uscc, f.name, f.region_code, f.state, f.version, f.barred_until, f.last_seq,
            f.last_effective_date, EMPTY_JSON, EMPTY_JSON, f.created_at, f.updated_at)


def _firm_update(f: FirmRecord) -> tuple[Any, ...]:
    return f.id, f.state, f.version, f.barred_until, f.last_seq, f.last_effective_date, f.updated_at


def _title_row(firm: FirmRecord, t: TitleRecord, day: Callable[[dt.date | None], Any]) -> tuple[Any, ...]:
    return (firm.id, t.tier, t.document_no, t.batch, day(t.recognized_on), day(t.valid_until), day(t.ended_on),
            t.end_reason, t.granted_by_seq, t.ended_by_seq)


def _title_update(t: TitleRecord) -> tuple[Any, ...]:
    return t.id, t.ended_on, t.end_reason, t.ended_by_seq


def _event_row(e: EventRecord, evidence: Any, effective_date: Any, recorded_at: Any) -> tuple[Any, ...]:
    return (e.enterprise_id, e.uscc, e.seq, e.kind, e.trigger, e.from_state, e.to_state, effective_date,
            recorded_at, e.actor, e.reason_code, e.reason, evidence, e.rulebook_id, e.rulebook_hash, e.request_id,
            e.prev_hash, e.hash, e.hash_recipe)


def _iso_dates() -> Callable[[dt.date | None], str | None]:
    """A date's ISO text, each date formatted once: a chunk's rows share a few dates (its decision date, the
    validity end), and psycopg's date dumper costs more than looking the text up."""
    seen: dict[dt.date, str] = {}

    def text(day: dt.date | None) -> str | None:
        if day is None:
            return None
        found = seen.get(day)
        if found is None:
            found = seen[day] = day.isoformat()
        return found

    return text


FIRM_UPDATE = ("firm_id", "state", "version", "barred_until", "last_seq", "last_effective_date", "updated_at")
TITLE_UPDATE = ("title_id", "ended_on", "end_reason", "ended_by_seq")


_END_TITLES = (
    "UPDATE recognitions AS r SET ended_on = v.ended_on, end_reason = v.end_reason, ended_by_seq = v.ended_by_seq "
    "FROM unnest(%s::bigint[], %s::date[], %s::varchar[], %s::int[]) AS v(id, ended_on, end_reason, ended_by_seq) "
    "WHERE r.id = v.id")
_UPDATE_FIRMS = (
    "UPDATE enterprises AS e SET state = v.state, version = v.version, barred_until = v.barred_until, "
    "last_seq = v.last_seq, last_effective_date = v.last_effective_date, updated_at = v.updated_at "
    "FROM unnest(%s::bigint[], %s::varchar[], %s::int[], %s::date[], %s::int[], %s::date[], %s::timestamptz[]) "
    "AS v(id, state, version, barred_until, last_seq, last_effective_date, updated_at) WHERE e.id = v.id")


class _PostgresJob:
    """A chunk as COPY data and unnest() columns, independent of the records (which the next chunk may change).

    The COPY data is formatted here, on the computing thread, by psycopg's own formatter (the adapters of the
    connection it goes to): the writer's thread then only sends it, a few large blocks per table, instead of
    taking the interpreter back from the computing thread for every 32 KiB of rows it formats. Dates and the
    events' ``recorded_at`` go as their ISO text, which PostgreSQL reads as it reads psycopg's: a chunk's rows
    share a few of them, formatted once (``recorded_at`` is the text its hash was taken of, remembered by
    :func:`pipeline.lifecycle.chain.format_timestamp`), where psycopg would format each value of each row —
    for a ``timestamptz`` 3 µs, a third of the row."""

    def __init__(self, connection: Any, new_firms: list[FirmRecord], changed: list[FirmRecord],
                 new_titles: list[tuple[FirmRecord, TitleRecord]], ended: list[TitleRecord],
                 events: list[EventRecord]) -> None:
        self.firms = copy_data(connection, [_firm_row(f) for f in new_firms])
        self.updates = _array_texts([_firm_update(f) for f in changed], len(FIRM_UPDATE))
        self.ended = _array_texts([_title_update(t) for t in ended], len(TITLE_UPDATE))
        day = _iso_dates()
        self.titles = copy_data(connection, [_title_row(f, t, day) for f, t in new_titles])
        # jsonb parses the text: key order, spacing and a number's notation (orjson writes 1e16 where json writes
        # 1e+16; the digits are the same shortest ones) do not matter to it, nor to the hash (taken before).
        self.events = copy_data(connection, [
            _event_row(e, json_text(e.evidence), day(e.effective_date), format_timestamp(e.recorded_at))
            for e in events])

    def run(self, connection: Any, planned: bool) -> None:
        """New firms first (the rows below refer to them); the stored firms' update last. Those firms are locked
        ``FOR UPDATE`` since their load, so the foreign-key checks of the titles and events find the lock held and
        leave the row alone; after the update they would lock its new version, one more write per firm.
        ``planned``: the bulk plans are held already (:meth:`ChunkWriter.bulk_plans`)."""
        with connection.cursor() as cursor, contextlib.nullcontext() if planned else bulk_write_plans(cursor):
            if self.firms:
                send_copy(cursor, "enterprises", FIRM_COLUMNS, self.firms)
            _update(cursor, _END_TITLES, self.ended)
            if self.titles:
                send_copy(cursor, "recognitions", TITLE_COLUMNS, self.titles)
            send_copy(cursor, "events", EVENT_COLUMNS, self.events)
            _update(cursor, _UPDATE_FIRMS, self.updates)


def _update(cursor: Any, statement: str, columns: list[str]) -> None:
    """One of the chunk's ``UPDATE … FROM unnest(…)`` (one array per column), its rows looked up by key
    (:func:`pipeline.db.bulk_write_plans`); nothing when the chunk has no such row."""
    if columns:
        cursor.execute(statement, columns)


def _array_texts(rows: list[tuple[Any, ...]], width: int) -> list[str]:
    """The rows' columns as array literals (``{1,"2025-06-01",NULL}``), made here, on the computing thread: sent as
    lists, psycopg dumps them on the writer's thread, which then holds the interpreter for every value (12 ms of
    its time a chunk; psycopg's dumpers take 21 ms for the same text, these loops 6). The statement casts each
    to its array type, as it casts a list. No columns for no rows."""
    if not rows:
        return []
    return [_array_text([row[i] for row in rows]) for i in range(width)]


def _array_text(values: list[Any]) -> str:
    """One column's array literal: integers (ids, versions, seqs — each its own) joined at once; the other
    columns' values (states, dates, the chunk's instant) are a few, each written once."""
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    written: dict[Any, str] = {}
    parts = []
    for value in values:
        part = written.get(value)
        if part is None:
            part = written[value] = _array_element(value)
        parts.append(part)
    return "{" + ",".join(parts) + "}"


def _array_element(value: Any) -> str:
    """One value in an array literal: ``NULL``; an integer's digits; dates, times and text double-quoted, with
    backslash and double quote escaped (the only two characters that need it inside the quotes)."""
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if isinstance(value, dt.date):  # dt.datetime too: ISO 8601, its offset included, as PostgreSQL reads it
        return '"' + value.isoformat() + '"'
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"no array literal for {type(value).__name__}")


def _same(day: dt.date | None) -> dt.date | None:
    return day


class _SqliteJob:
    """A chunk as Core executemany parameters (SQLite, the embedded default: correct first, fast enough)."""

    def __init__(self, new_firms: list[FirmRecord], changed: list[FirmRecord],
                 new_titles: list[tuple[FirmRecord, TitleRecord]], ended: list[TitleRecord],
                 events: list[EventRecord]) -> None:
        self.firms = [{**dict(zip(FIRM_COLUMNS, _firm_row(f), strict=True)), "data": {}, "flags": {}}
                      for f in new_firms]
        self.updates = [dict(zip(FIRM_UPDATE, _firm_update(f), strict=True)) for f in changed]
        self.ended = [dict(zip(TITLE_UPDATE, _title_update(t), strict=True)) for t in ended]
        self.titles = [dict(zip(TITLE_COLUMNS, _title_row(f, t, _same), strict=True)) for f, t in new_titles]
        self.events = [dict(zip(EVENT_COLUMNS, _event_row(e, dict(e.evidence), e.effective_date, e.recorded_at),
                                strict=True)) for e in events]

    def run(self, connection: Connection) -> None:
        if self.firms:
            connection.execute(insert(ENTERPRISES), self.firms)
        if self.updates:
            connection.execute(update(ENTERPRISES).where(ENTERPRISES.c.id == bindparam("firm_id")), self.updates)
        if self.ended:
            connection.execute(update(RECOGNITIONS).where(RECOGNITIONS.c.id == bindparam("title_id")), self.ended)
        if self.titles:
            connection.execute(insert(RECOGNITIONS), self.titles)
        connection.execute(insert(EVENTS), self.events)
