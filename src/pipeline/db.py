"""Engine and sessions. Dialect differences live here and nowhere else."""

from __future__ import annotations

import io
import json
import sys
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import orjson
import psycopg.copy
import psycopg.pq
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Engine,
    Select,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeDecorator, TypeEngine

from pipeline.errors import InvalidInput
from pipeline.shared_settings import SharedSetting

SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_SIZE = 15
"""PostgreSQL connections one process keeps (and at most opens): SQLAlchemy's 5 + 10 overflow, all kept."""


#: The URL schemes we accept, and the driver each one means. ``postgres://`` is what Heroku-style platforms
#: and many operators write; SQLAlchemy refuses it, so it is read as PostgreSQL through psycopg 3.
SUPPORTED_SCHEMES = {
    "sqlite": "sqlite", "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg", "postgresql+psycopg": "postgresql+psycopg",
}


def database_url(url: str | URL) -> URL:
    """``url`` parsed, with its driver made explicit; :class:`InvalidInput` for anything we cannot connect to."""
    if isinstance(url, URL):
        parsed = url
    else:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InvalidInput(
                f"数据库地址无效 — {url!r} is not a database URL; expected sqlite:///PATH or "
                "postgresql://user@host:5432/dbname", field="database_url") from None
    driver = SUPPORTED_SCHEMES.get(parsed.drivername)
    if driver is None:
        raise InvalidInput(
            f"不支持的数据库 — {parsed.drivername}:// is not supported; use sqlite:///PATH or "
            "postgresql://user@host:5432/dbname (psycopg 3)", field="database_url")
    return parsed.set(drivername=driver)


def make_engine(url: str | URL, *, generic_plans: bool = False, lock_wait_ms: int | None = None,
                **kwargs: Any) -> Engine:
    """An engine for ``url``. On PostgreSQL, ``generic_plans`` lets the server keep one plan per prepared
    statement (see below): for an engine that runs only short statements of one shape, again and again; and
    ``lock_wait_ms`` bounds every wait for a lock (a row, a unique key another transaction is inserting):
    beyond it the statement fails with SQLSTATE 55P03 (:func:`lock_wait_timed_out`). Without it a statement
    waits as long as the lock is held, as PostgreSQL's default."""
    url = database_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # SQLAlchemy's default (5 kept + 10 overflow) closes every connection beyond the fifth when it is returned:
    # a worker serving more than five requests at once then opens a new PostgreSQL session (a forked backend,
    # statements no longer prepared) for most of them. Same ceiling per process, all of it kept, opened lazily.
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
    # psycopg prepares a statement after five runs, and PostgreSQL then may switch to a generic plan. For the
    # keyset pages (rosters, feeds, searches: `id > :after … LIMIT :n`) the generic plan ignores where the
    # page starts and was measured twice as slow as the custom one (whole-province roster: 10.5 s vs 5.5 s);
    # planning afresh costs a fraction of a millisecond. Statements stay prepared (no re-parse).
    # That fraction is a third of the database's work for a transition (a lock statement and a write
    # statement, both keyed by a unique column, planned on every run): the API's hot write path has its own
    # engine with ``generic_plans`` (PostgreSQL's default, ``auto``: generic once it costs no more).
    connect_args = kwargs.pop("connect_args", {})
    options = "-c plan_cache_mode=" + ("auto" if generic_plans else "force_custom_plan")
    if lock_wait_ms is not None:
        options += f" -c lock_timeout={int(lock_wait_ms)}ms"
    connect_args.setdefault("options", options)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _ping_when_idle(engine)
    return engine


LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a lock not obtained within ``lock_timeout`` (or ``NOWAIT``)."""


def lock_wait_timed_out(error: DBAPIError) -> bool:
    """Whether ``error`` (as SQLAlchemy and :class:`DriverStatement` raise the driver's) is a lock wait cut short
    by ``lock_timeout``: the transaction is in error and must be rolled back; nothing else went wrong."""
    return getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE


IDLE_PING_SECONDS = 10.0
"""A pooled PostgreSQL connection idle for longer is pinged before use (a restarted server or a dropped
network leaves dead connections in the pool); one in steady use is not, saving a round trip per request."""


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout — a quarter of a transition's. A
    connection checked in moments ago is alive; only one that sat idle is pinged, and a dead one is replaced
    (raising ``DisconnectionError`` makes the pool retry with a fresh connection)."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) <= IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except dbapi_connection.OperationalError as exc:  # psycopg's, reached through the connection
            raise DisconnectionError(str(exc)) from exc


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL for concurrent readers, and BEGIN IMMEDIATE so that writers serialise.

    pysqlite's own transaction handling starts a deferred transaction, which lets two writers both read
    and then fail to upgrade their locks; taking the write lock at BEGIN is SQLite's row lock.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def member_of(column: ColumnElement[Any] | QueryableAttribute[Any], values: list[Any], item_type: TypeEngine[Any],
              *, postgres: bool) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one parameter instead of thousands to render and parse
    (the batch loads of imports and sweeps)."""
    if postgres:
        return column == any_(bindparam(None, values, type_=ARRAY(item_type)))
    return column.in_(values)


def per_firm(query: Any, firm_column: Any, ids: list[int], postgres: bool, order: Any) -> Select[Any]:
    """``query`` for the firms ``ids``, in firm then ``order`` order (the batch reads of imports and awards sync):
    ``IN`` on SQLite; on PostgreSQL one ``LATERAL`` read per firm (``unnest`` of the ids), which an index on
    ``firm_column`` serves whatever the statistics say — with ``IN (…)`` a planner whose statistics predate the
    rows a bulk write has just made scans the whole table for every chunk (``OFFSET 0`` keeps it from flattening
    the read into a join, which it may then hash over the whole table)."""
    if not postgres:
        plain: Select[Any] = query.where(firm_column.in_(ids)).order_by(firm_column, order)
        return plain
    firm = func.unnest(bindparam(None, ids, type_=ARRAY(BigInteger()))).table_valued("id").render_derived(name="firm")
    rows = query.add_columns(order.label("_order")).where(firm_column == firm.c.id).offset(0).lateral("rows")
    return (select(*(column for column in rows.c if column.key != "_order"))
            .select_from(firm.join(rows, true())).order_by(firm.c.id, rows.c._order))


@contextmanager
def local_settings(cursor: Any, settings: Mapping[str, str]) -> Iterator[None]:
    """Inside: the psycopg ``cursor``'s transaction runs with these PostgreSQL ``settings`` (``SET LOCAL``); on the
    way out they are put back as they were. One statement each way: the settings as they were are read, in a
    materialised CTE, before the same statement sets them. Not put back when the transaction is in error: the
    savepoint or transaction rolled back takes them with it."""
    names = list(settings)
    aliases = [f"s{index}" for index in range(len(names))]
    set_each = ", ".join("set_config(%s, %s, true)" for _ in names)
    # only placeholders and numbered aliases in the text: the names and values are parameters
    previous = cursor.execute(
        f"WITH previous AS MATERIALIZED (SELECT {', '.join(f'current_setting(%s) AS {a}' for a in aliases)}) "  # noqa: S608
        f"SELECT {', '.join(aliases)}, {set_each} FROM previous",
        [*names, *_pairs(names, [settings[name] for name in names])]).fetchone()[:len(names)]
    try:
        yield
    finally:
        if cursor.connection.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            cursor.execute(f"SELECT {set_each}", _pairs(names, previous))


def _pairs(names: Sequence[str], values: Sequence[str]) -> list[str]:
    """``name, value, name, value, …``: the parameters of ``set_config(%s, %s, true)`` repeated."""
    return [part for name, value in zip(names, values, strict=True) for part in (name, value)]


BULK_WRITE_PLANS = {"plan_cache_mode": "auto", "enable_hashjoin": "off", "enable_mergejoin": "off"}
"""How a chunk's bulk writes are planned (:func:`bulk_write_plans`)."""


def bulk_write_plans(cursor: Any) -> AbstractContextManager[None]:
    """Inside: the psycopg ``cursor``'s statements — a chunk's bulk writes — are planned for them
    (:func:`local_settings`, :data:`BULK_WRITE_PLANS`).

    * Joins by nested loops (hash and merge joins off), for an ``UPDATE … FROM unnest(ids)`` of a chunk's rows by
      primary key: on statistics that predate the rows a bulk write has just made, the planner hashes the whole
      table instead of looking the chunk's rows up (26 ms instead of 5 for 2,000 of 50,000 firms, and growing with
      the table).
    * PostgreSQL's own ``plan_cache_mode`` (``auto``: a cached plan is reused once it costs no more than a custom
      one), for ``COPY`` into tables with foreign keys: each row's key check is a cached plan (``SELECT 1 FROM
      enterprises … FOR KEY SHARE``) that :func:`make_engine`'s ``force_custom_plan`` has planned afresh for every
      row — the server's CPU time for an import's 50,000 titles fell from 0.66 s to 0.35 s that way, for as many
      events from 1.05 s to 0.77 s. The chunk's UPDATEs, by key with the joins above, have one plan either way."""
    return local_settings(cursor, BULK_WRITE_PLANS)


def without_jit(session: Session) -> None:
    """No JIT compilation for the rest of the session's transaction (PostgreSQL; nothing on SQLite). For bulk work
    (imports, awards sync), whose statements read a chunk's rows by id: on statistics that predate the rows the
    work has just written, their estimated cost passes ``jit_above_cost``, and compiling each costs 100 ms or more
    where running it costs a few."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One business action: commit on success, roll back on any error. The only commit outside the API."""
    with factory() as session, session.begin():
        yield session


# --- Hot statements: run on the driver's connection ----------------------------------------------------------


TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK


class DriverStatement:
    """A Core statement compiled once for PostgreSQL, run straight on the session's psycopg connection: the
    parameters through their types' bind processing and the rows through their columns' result processing, as
    ``session.execute`` would, without its per-call layers (compiled-cache lookup, execution context, result
    objects) — about 100 µs of CPU per call saved, for the statements of the hot write path (PostgreSQL).
    ``before_cursor_execute`` listeners still see each statement (with no execution context).

    Driver errors come out as SQLAlchemy's (:class:`sqlalchemy.exc.DBAPIError` and its kinds), as from
    ``session.execute``; a lost connection is invalidated, so the pool does not hand it out again."""

    __slots__ = ("binds", "fixed", "results", "row", "sql")

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled: Any = cast(Any, statement).compile(dialect=dialect)
        assert not compiled.positional, "named parameters only"
        assert not compiled.escaped_bind_names, "plain parameter names only"
        self.sql: str = str(compiled)
        self.fixed: dict[str, Any] = dict(compiled.params)
        self.binds: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(compiled._bind_processors.items())
        columns = compiled._result_columns or []
        self.results: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, processor) for index, column in enumerate(columns)
            if (processor := column.type._cached_result_processor(dialect, None)) is not None)
        self.row: Callable[..., Any] = namedtuple("Row", [column.keyname for column in columns] or ["_"],  # type: ignore[misc]
                                                  rename=True)

    def execute(self, session: Session, params: Mapping[str, Any]) -> list[Any]:
        """Run with ``params`` (every parameter the statement takes) in the session's transaction; the rows,
        each a named tuple of the statement's columns (none for a statement that returns nothing). Pending ORM
        changes are flushed first, as ``session.execute`` does."""
        if session.autoflush:
            session.flush()  # nothing to do (and cheap) when the session holds no changes
        connection = session.connection()
        values = {**self.fixed, **params}
        for name, process in self.binds:
            values[name] = process(values[name])
        driver: Any = connection.connection.driver_connection
        listeners = connection.dispatch.before_cursor_execute  # statement counters, tracing: they still see it
        try:
            cursor = driver.cursor()
            if listeners:
                listeners(connection, cursor, self.sql, values, None, False)
            cursor.execute(self.sql, values)
            result = cursor.pgresult  # psycopg's description builds a column object each: asked per call, it cost
            rows = cursor.fetchall() if result is not None and result.status == TUPLES_OK else []  # 2 % of a write
        except connection.dialect.loaded_dbapi.Error as error:
            if connection.dialect.is_disconnect(error, driver, None):
                connection.invalidate(error)
            raise DBAPIError.instance(self.sql, values, error, connection.dialect.loaded_dbapi.Error,
                                      dialect=connection.dialect) from error
        if not self.results:
            return [self.row._make(row) for row in rows]  # type: ignore[attr-defined]
        made = []
        for row in rows:
            items = list(row)
            for index, process in self.results:
                items[index] = process(items[index])
            made.append(self.row._make(items))  # type: ignore[attr-defined]
        return made


_DRIVER_STATEMENTS: dict[tuple[Any, ...], DriverStatement] = {}


def driver_statement(statement: Executable, dialect: Dialect) -> DriverStatement:
    """``statement`` compiled for ``dialect``'s kind, once (``statement`` must be long-lived: built once per
    shape, as the hot path's are) — keyed by the dialect's kind, not the dialect, which a cache would keep
    alive with its engine."""
    key = (statement, dialect.name, dialect.driver, dialect.paramstyle)
    found = _DRIVER_STATEMENTS.get(key)
    if found is None:
        found = _DRIVER_STATEMENTS[key] = DriverStatement(statement, dialect)
    return found


def driver_rows(session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """The rows of a statement written out for psycopg (bulk reads by id arrays: an import's loads, run on its writer
    thread beside the thread computing a chunk), run on the session's connection, in its transaction: the driver's
    plain tuples, without SQLAlchemy's compiling and row wrapping — half the interpreter's time or less."""
    return connection_rows(session.connection().connection.driver_connection, sql, params)


class PendingRows:
    """A statement's result as the server sent it, its rows not made into Python values yet: :meth:`rows` makes
    them, on whichever thread calls it. A bulk writer's thread runs the statement and goes on to its next one at
    once; the thread that uses the rows pays for making them (psycopg reads a cursor's rows from the cursor's
    own result, without the connection's lock, so the connection may meanwhile run other statements)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __len__(self) -> int:
        result = self._cursor.pgresult
        return 0 if result is None else int(result.ntuples)

    def column(self, index: int) -> list[bytes | None]:
        """One column's values as the result's text (``None`` for NULL), no row made."""
        result = self._cursor.pgresult
        return [result.get_value(row, index) for row in range(len(self))]

    def rows(self) -> list[Any]:
        rows: list[Any] = self._cursor.fetchall()
        self._cursor.close()
        return rows


def pending_rows(session: Session, sql: str, params: Sequence[Any]) -> PendingRows:
    """:func:`driver_rows`, the rows left to be made by whoever uses them (:class:`PendingRows`)."""
    driver: Any = session.connection().connection.driver_connection
    cursor = driver.cursor()
    cursor.execute(sql, params)
    return PendingRows(cursor)


def connection_rows(connection: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    """:func:`driver_rows` on a psycopg ``connection`` itself (a writer thread that holds it, not the session)."""
    with connection.cursor() as cursor:
        rows: list[Any] = cursor.execute(sql, params).fetchall()
        return rows


# --- Long reads: a whole list, streamed ------------------------------------------------------------------------

STREAM_CHUNK = 1000


def stream_rows(session: Session, statement: Select[*tuple[Any, ...]], chunk: int = STREAM_CHUNK, *,
                serial: bool = False) -> Iterator[Sequence[Any]]:
    """The rows of a long read (a list of the whole province), as they come, in flat memory.

    PostgreSQL: one ordinary query whose rows psycopg takes ``chunk`` at a time (libpq's chunked-rows mode;
    row by row before libpq 17). The server runs its whole plan — parallel workers included — and sends rows
    as fast as they are taken, the socket holding it back. A server-side cursor (``yield_per``) is planned for
    its first rows and fetched a round trip at a time: the roster export at 1 M firms took 7.4 s that way and
    1.8 s this way. Nothing else may use the session's connection until every row is read or the iteration is
    closed; closed early, the query is cancelled, which would abort the transaction, so it runs inside a
    savepoint that is then rolled back to: the session carries on. Elsewhere (SQLite): ``yield_per``.

    On PostgreSQL the rows are the driver's tuples and the parameters go to it as they are: neither passes
    through the columns' types (no ``TypeDecorator`` processing) — for plain columns and values (text, numbers,
    dates), as the exports select.

    ``serial``: the statement is planned without parallel workers (``max_parallel_workers_per_gather`` 0 for it
    alone), for a read whose client is the slower side: workers then only take the cores the client needs, and
    some plans exist only serially — PostgreSQL 15 has no parallel hash *right* join, so the one parallel plan of a
    left join hashes the right side whole before the first row, however wide.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield from connection.execute(statement.execution_options(yield_per=chunk))
        return
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    driver: Any = connection.connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute("SAVEPOINT stream_rows")
        try:
            with local_settings(cursor, SERIAL_PLANS) if serial else nullcontext():
                yield from cursor.stream(str(compiled), compiled.params,
                                         size=chunk if psycopg.pq.version() >= 170000 else 1)
        finally:
            status = driver.info.transaction_status
            if status == psycopg.pq.TransactionStatus.INERROR:
                cursor.execute("ROLLBACK TO SAVEPOINT stream_rows; RELEASE SAVEPOINT stream_rows")
            elif status == psycopg.pq.TransactionStatus.INTRANS:
                cursor.execute("RELEASE SAVEPOINT stream_rows")


SERIAL_PLANS = {"max_parallel_workers_per_gather": "0"}
""":func:`stream_rows`' ``serial`` reads."""


# --- COPY on PostgreSQL: the bulk writes (imports, sweeps, awards sync) ----------------------------------------


def json_text(document: Any) -> str:
    """A document as JSON text for a jsonb column: orjson, or ``json`` for what orjson refuses (integers beyond
    64 bits, keys that are not text). jsonb parses the text: key order, spacing and a number's notation (orjson
    writes 1e16 where json writes 1e+16; the digits are the same shortest ones) do not matter to it."""
    try:
        return orjson.dumps(document).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(document, ensure_ascii=False)


def json_document(text: str | None) -> Any:
    """A JSON column's value read as text (``jsonb::text``), decoded by orjson — four times faster than psycopg's
    jsonb loader (the standard library's ``json``) — or by ``json`` where orjson refuses (a lone surrogate, an
    integer beyond 64 bits, a number beyond a double): the same document either way."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def copy_data(connection: Any, rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as ``COPY … FROM STDIN`` text data, formatted with the psycopg ``connection``'s adapters (nothing is
    sent: the data can be made on one thread and sent on another)."""
    buffer = io.BytesIO()
    with psycopg.copy.Copy(connection.cursor(), writer=psycopg.copy.FileWriter(buffer)) as copy:
        for row in rows:
            copy.write_row(row)
    return buffer.getvalue()


def send_copy(cursor: Any, table: str, columns: Sequence[str], data: bytes) -> None:
    """``COPY table (columns) FROM STDIN`` with data made by :func:`copy_data`."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(data)


def _json_converter(kind: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """What a JSON column's value becomes for COPY, as its type stores it; ``None`` for any other column."""
    impl = kind.impl if isinstance(kind, TypeDecorator) else kind
    if not isinstance(impl, JSON):
        return None
    return _json_or_null if impl.none_as_null else json_text


def _json_or_null(document: Any) -> str | None:
    return None if document is None else json_text(document)


def copy_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (column → value, the same columns in each) into ``table`` with one ``COPY`` on the
    session's PostgreSQL connection, as a Core ``insert`` of them would: JSON columns as JSON text (``None`` as
    JSON ``null``, or as SQL NULL where the column's type says ``none_as_null``), everything else through
    psycopg's adapters. Columns that a Core insert would fill from a Python-side default must be in the rows."""
    batch = copy_batch(session, table, rows)
    if batch is not None:
        batch.send()


@dataclass(frozen=True)
class CopyBatch:
    """Rows formatted for one ``COPY`` (:func:`copy_batch`), to be sent — on another thread, if need be."""

    connection: Any
    table: str
    columns: list[str]
    data: bytes

    def send(self) -> None:
        with self.connection.cursor() as cursor:
            send_copy(cursor, self.table, self.columns, self.data)


def send_batches(batches: Sequence[CopyBatch]) -> None:
    """A bulk writer's chunk of ``COPY`` batches (all on one connection), planned as bulk writes
    (:func:`bulk_write_plans`: each row's foreign-key check on a cached plan); a few rows go by
    :meth:`CopyBatch.send`, for which the settings would cost more round trips than they save."""
    if not batches:
        return
    with batches[0].connection.cursor() as cursor, bulk_write_plans(cursor):
        for batch in batches:
            send_copy(cursor, batch.table, batch.columns, batch.data)


def copy_batch(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> CopyBatch | None:
    """:func:`copy_rows`' data, formatted now and sent by :meth:`CopyBatch.send`; ``None`` for no rows."""
    if not rows:
        return None
    columns = list(rows[0])
    return copy_values(session, table, columns, [[row[name] for name in columns] for row in rows])


def copy_values(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                ) -> CopyBatch | None:
    """:func:`copy_batch` for rows given as their values in ``columns``' order (a bulk writer's tens of thousands:
    no mapping made and read again per row, only the JSON columns converted)."""
    if not rows:
        return None
    converters = [(index, convert) for index, name in enumerate(columns)
                  if (convert := _json_converter(table.c[name].type)) is not None]
    connection: Any = session.connection().connection.driver_connection

    def converted(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, convert in converters:
            values[index] = convert(values[index])
        return values

    return CopyBatch(connection, table.name, list(columns), copy_data(connection, map(converted, rows)))


QUICK_SWITCH_INTERVAL = 0.0001
"""Seconds a computing thread may keep the interpreter while a bulk writer's thread waits for it (Python's
default: 0.005). A writer thread wakes up for every block of COPY data the server has taken and for every
result, and each time it waited up to the whole interval for a thread that never blocks: 50,000 rows of an
import's recognitions waited ≈ 2.5 s that way (wall time, with the CPU time unchanged). The writer's thread is
what an import waits for (its database work is the longer of the two), and each chunk wakes it for a dozen
statements: at 0.5 ms its 50,000 rows took 3.07–3.31 s, at 0.1 ms 2.96–3.00 s (enroll: 2.18–2.31 s and
1.94–2.12 s); 0.05 and 0.02 ms gave no more."""


def _switch_quickly() -> Callable[[], None]:
    default = sys.getswitchinterval()
    sys.setswitchinterval(min(default, QUICK_SWITCH_INTERVAL))
    return partial(sys.setswitchinterval, default)


_QUICK_HANDOFFS = SharedSetting(_switch_quickly)


def quick_handoffs() -> AbstractContextManager[None]:
    """Inside: :data:`QUICK_SWITCH_INTERVAL` — for as long as any bulk writer's thread runs beside a computing
    one; the process's own interval back when the last one ends (an API server may run several at once)."""
    return _QUICK_HANDOFFS.held()
