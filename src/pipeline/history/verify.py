"""Proof that history is intact: chain verification with replay, and anchors of the chain heads.

:func:`verify` walks the firms in id order in batches (memory stays flat), recomputes each firm's chain in
seq order, each event with the recipe that sealed it (:mod:`pipeline.lifecycle.chain`), checks that seq runs
from 1 without gaps and ``recorded_at`` never decreases, and compares the stored state, bar and title rows
with a replay of the events. Every problem names the firm and the exact seq it concerns; what is not
evidence of tampering (numbers PostgreSQL rewrote in old events, old decreases of ``recorded_at``) is a
warning, and ``ok`` stays true.

An anchor is one sha256 over the lines ``uscc,seq,hash\\n`` of every firm's head, sorted by uscc, stored
with the heads themselves. Verifying it recomputes each chain from genesis up to the anchored seq: if any
event recorded before the anchor changed, was removed or was slipped in, the recomputed head — and so the
digest — differs.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine, NullPool, Text, and_, cast, func, insert, literal, select, true
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.awards.ledger import verify_firms as verify_award_chains
from pipeline.dates import utc_now
from pipeline.db import make_engine
from pipeline.errors import NotFound, PipelineError
from pipeline.history import anchor_signing, ledger
from pipeline.history.corrections import VOIDED
from pipeline.history.replay import events_by_uscc, replay, voided_seqs
from pipeline.json_numbers import MAX_SAFE_INTEGER
from pipeline.lifecycle import chain as audit
from pipeline.models import Enterprise, Event, Recognition
from pipeline.models.audit import Anchor, AnchorHead
from pipeline.titles.replay import side_title_mismatches, side_titles_by_firm

BATCH = 500


@dataclass(frozen=True)
class Problem:
    uscc: str
    seq: int
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "seq": self.seq, "problem": self.problem}


NUMBER_FORM_REWRITTEN = "number-form-rewritten"
RECORDED_AT_DECREASED = "recorded-at-decreased"


@dataclass(frozen=True)
class ChainWarning:
    """Something an auditor should know that is not evidence of tampering (``ok`` stays true)."""

    uscc: str
    seq: int
    warning: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "seq": self.seq, "warning": self.warning, "detail": self.detail}


@dataclass
class Report:
    firms_checked: int = 0
    events_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[ChainWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "firms_checked": self.firms_checked, "events_checked": self.events_checked,
                "problems": [p.as_dict() for p in self.problems], "warnings": [w.as_dict() for w in self.warnings]}


def _jsonb_originals(value: Any, *, negative_zero: bool) -> Any:
    """``value`` with the numbers JSONB rewrites put back in the form ``json.dumps`` once wrote: an integer
    beyond ±(2^53−1) as the float it was (``1e16`` came back as ``10000000000000000``), and, with
    ``negative_zero``, a zero float as ``-0.0`` (which came back as ``0.0``)."""
    if isinstance(value, dict):
        return {key: _jsonb_originals(item, negative_zero=negative_zero) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonb_originals(item, negative_zero=negative_zero) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return float(value)
    if negative_zero and isinstance(value, float) and value == 0.0:
        return -0.0
    return value


def seal_matches(event: Any, prev_hash: str, *, jsonb: bool) -> tuple[bool, bool]:
    """(does ``hash`` match the event's fields under the recipe that sealed it, did it take re-rendering
    numbers that PostgreSQL's JSONB rewrote). The second is only tried for ``pyjson-1`` events on
    PostgreSQL: ``jcs-1`` numbers are canonical before they are stored, and SQLite stores JSON as text."""
    recipe = audit.recipe_of(event)
    if audit.recompute_hash(event, prev_hash, recipe) == event.hash:
        return True, False
    if jsonb and recipe == audit.PYJSON:
        fields = audit.event_fields(event)
        for negative_zero in (False, True):
            original = {**fields, "evidence": _jsonb_originals(fields["evidence"], negative_zero=negative_zero)}
            if audit.chain_hash(prev_hash, original, recipe) == event.hash:
                return True, True
    return False, False


def check_chain(uscc: str, events: Sequence[Any], expected_last_seq: int, *, jsonb: bool = False,
                cutover_id: int | None = None) -> tuple[list[Problem], list[ChainWarning]]:
    """Seq continuity, links, hashes and recorded times of one firm's chain, linked on the stored hashes so
    that one edited event is reported at its own seq and not at every later one.

    ``recorded_at`` never decreases along a chain (writers make sure of it under the firm's lock); a decrease
    into an event sealed with the old recipe was recorded before they did, and is a warning. ``cutover_id``,
    the id of the first ``jcs-1`` event in the database: an old-recipe event stored after it was slipped in.
    """
    problems: list[Problem] = []
    warnings: list[ChainWarning] = []
    prev_hash, prev_to_state, expected_seq = audit.GENESIS_HASH, None, 1
    prev_recorded_at = None
    for event in events:
        if event.seq > expected_seq:
            problems.extend(Problem(uscc, missing, "事件缺失 — event missing from the chain (deleted?)")
                            for missing in range(expected_seq, event.seq))
        elif event.seq < expected_seq:
            problems.append(Problem(uscc, event.seq, "序号重复 — duplicate seq"))
        if event.prev_hash != prev_hash and event.seq == expected_seq:
            problems.append(Problem(uscc, event.seq, "prev_hash 与上一事件的哈希不符 — prev_hash does not link "
                                                     "to the previous event's hash"))
        matches, rewritten = seal_matches(event, event.prev_hash, jsonb=jsonb)
        if not matches:
            problems.append(Problem(uscc, event.seq, "哈希不符，内容被改动 — hash mismatch: the event's fields "
                                                     "were changed after it was recorded"))
        elif rewritten:
            warnings.append(ChainWarning(uscc, event.seq, NUMBER_FORM_REWRITTEN,
                                         "数值形式被数据库改写 — PostgreSQL (JSONB) rewrote numbers of this event's "
                                         "evidence (e.g. 1e+16 → 10000000000000000, -0.0 → 0.0); the hash matches "
                                         "with them written as Python floats, as they were sealed (pyjson-1)"))
        old_recipe = audit.recipe_of(event) == audit.PYJSON
        if old_recipe and cutover_id is not None and event.id > cutover_id:
            problems.append(Problem(uscc, event.seq, "旧哈希规则的事件写于升级之后 — an event sealed with the old "
                                                     "recipe pyjson-1 was stored after jcs-1 was introduced "
                                                     "(inserted behind the application's back?)"))
        if prev_recorded_at is not None and event.recorded_at < prev_recorded_at:
            detail = (f"记录时间早于上一事件 — recorded_at {audit.format_timestamp(event.recorded_at)} is earlier "
                      f"than the previous event's {audit.format_timestamp(prev_recorded_at)}")
            if old_recipe:
                warnings.append(ChainWarning(uscc, event.seq, RECORDED_AT_DECREASED,
                                             f"{detail}; recorded before writers kept recorded_at increasing"))
            else:
                problems.append(Problem(uscc, event.seq, f"{detail} (back-dated?)"))
        if event.seq > 1 and event.seq == expected_seq and event.from_state != prev_to_state:
            problems.append(Problem(uscc, event.seq, f"from_state {event.from_state!r} does not follow the "
                                                     f"previous event's to_state {prev_to_state!r}"))
        prev_hash, prev_to_state, expected_seq = event.hash, event.to_state, max(expected_seq, event.seq + 1)
        prev_recorded_at = event.recorded_at
    if expected_last_seq >= expected_seq:
        problems.extend(Problem(uscc, missing, "事件缺失 — event missing from the end of the chain (deleted?)")
                        for missing in range(expected_seq, expected_last_seq + 1))
    elif expected_last_seq < expected_seq - 1:
        problems.append(Problem(uscc, expected_seq - 1, f"企业记录的最后序号为{expected_last_seq} — the firm "
                                                        f"records last_seq {expected_last_seq}"))
    return problems, warnings


def _title_key(title: Any) -> tuple[Any, ...]:
    return (title.tier, title.recognized_on, title.valid_until, title.ended_on, title.end_reason,
            title.granted_by_seq, title.ended_by_seq, title.document_no, title.batch)


def check_replay(firm: Any, titles: Sequence[Any], events: Sequence[Any]) -> list[Problem]:
    """The stored firm against a replay of its events."""
    try:
        replayed = replay(events)
    except (PipelineError, KeyError, ValueError, TypeError, AssertionError) as exc:
        return [Problem(firm.uscc, firm.last_seq, f"重放失败 — replay failed: {exc}")]
    problems = []
    if replayed.state != firm.state:
        problems.append(Problem(firm.uscc, firm.last_seq, f"状态与事件不符 — stored state {firm.state!r}, the "
                                                          f"events give {replayed.state!r}"))
    if replayed.barred_until != firm.barred_until:
        problems.append(Problem(firm.uscc, firm.last_seq, f"禁入期与事件不符 — stored barred_until "
                                                          f"{firm.barred_until}, the events give "
                                                          f"{replayed.barred_until}"))
    voided = voided_seqs(events)
    stored = sorted((_title_key(t) for t in titles if t.end_reason != VOIDED), key=repr)
    expected = sorted((_title_key(t) for t in replayed.recognitions), key=repr)
    if stored != expected:
        differing = sorted({k[5] for k in set(stored) ^ set(expected)}) or [firm.last_seq]
        problems.extend(Problem(firm.uscc, seq, "称号记录与事件不符 — the title rows granted by this event differ "
                                                "from a replay of the events") for seq in differing)
    problems.extend(Problem(firm.uscc, t.granted_by_seq, "称号标记为作废但该事件未被更正 — title marked voided "
                                                         "but its event was not voided")
                    for t in titles if t.end_reason == VOIDED and t.granted_by_seq not in voided)
    return problems


def check_side_titles(firm: Any, side_titles: Sequence[Any], events: Sequence[Any]) -> list[Problem]:
    """The stored side titles against a replay of what the side-title events recorded."""
    return [Problem(firm.uscc, seq, "并列称号记录与事件不符 — the side title granted by this event differs from "
                                    "a replay of the events") for seq in side_title_mismatches(side_titles, events)]


RANGE = BATCH * 10
"""Firms per range: the unit of work a worker process takes (a multiple of :data:`BATCH`, so that the
problems come out in the same order however many workers share the ranges)."""
STREAM_ROWS = 2000
"""Event rows fetched per round trip from the streaming (server-side) cursor."""
_EVENT_COLUMNS = [column for column in Event.__table__.c if column.name not in ("enterprise_id", "tx_id")]
StoredEvent = namedtuple("StoredEvent", ["firm_id", *(column.name for column in _EVENT_COLUMNS)])  # type: ignore[misc]
"""An event as verification reads it: a tuple whose fields read many times faster than a result row's."""


@dataclass
class RangeResult:
    """What checking one range of firms found; the ranges' results, joined in id order, are the report."""

    firms_checked: int = 0
    events_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[ChainWarning] = field(default_factory=list)


def _in_scope(query: Any, uscc: str | None, region_prefix: str | None) -> Any:
    if uscc is not None:
        query = query.where(Enterprise.uscc == uscc)
    if region_prefix:
        query = query.where(Enterprise.region_code.startswith(region_prefix))
    return query


def firm_ranges(session: Session, uscc: str | None = None, region_prefix: str | None = None,
                size: int = RANGE) -> list[tuple[int, int]]:
    """The firms in scope cut into ``(after, upto]`` id ranges of ``size`` firms (the last one fewer), in
    id order: one index-only pass numbering the ids."""
    numbered = _in_scope(select(Enterprise.id, func.row_number().over(order_by=Enterprise.id).label("n")),
                         uscc, region_prefix).subquery()
    last = session.scalar(_in_scope(select(func.max(Enterprise.id)), uscc, region_prefix))
    if last is None:
        return []
    ends = list(session.scalars(select(numbered.c.id).where(numbered.c.n % size == 0).order_by(numbered.c.id)))
    if not ends or ends[-1] != last:
        ends.append(last)
    return list(zip([0, *ends[:-1]], ends, strict=True))


def check_range(session: Session, after: int, upto: int, *, uscc: str | None = None,
                region_prefix: str | None = None, jsonb: bool = False,
                cutover_id: int | None = None) -> RangeResult:
    """Every check of the firms with ``after < id <= upto`` in scope: their events stream in from one
    server-side cursor, in firm and seq order, as plain rows; titles, side titles and award chains are read
    per :data:`BATCH` firms."""
    result = RangeResult()
    firms = list(session.execute(_in_scope(
        select(Enterprise.id, Enterprise.uscc, Enterprise.state, Enterprise.barred_until, Enterprise.last_seq)
        .where(Enterprise.id > after, Enterprise.id <= upto).order_by(Enterprise.id), uscc, region_prefix)))
    if not firms:
        return result
    stream = _stream_events(session, after, upto, uscc, region_prefix)
    chains = groupby(stream, key=itemgetter(0))

    def next_chain() -> tuple[int, list[Any]]:
        found = next(chains, None)
        return (found[0], list(found[1])) if found is not None else (upto + 1, [])

    pending = next_chain()
    try:
        for start in range(0, len(firms), BATCH):
            batch = firms[start:start + BATCH]
            ids = [firm.id for firm in batch]
            titles: dict[int, list[Any]] = defaultdict(list)
            for title in session.connection().execute(select(Recognition.__table__)
                                                      .where(Recognition.enterprise_id.in_(ids))):
                titles[title.enterprise_id].append(title)
            side_titles = side_titles_by_firm(session, ids)
            for firm in batch:
                while pending[0] < firm.id:  # a firm enrolled after the list was read (read committed)
                    pending = next_chain()
                chain: list[Any] = []
                if pending[0] == firm.id:
                    chain, pending = pending[1], next_chain()
                result.firms_checked += 1
                result.events_checked += len(chain)
                problems, warnings = check_chain(firm.uscc, chain, firm.last_seq, jsonb=jsonb,
                                                 cutover_id=cutover_id)
                result.problems.extend(problems)
                result.warnings.extend(warnings)
                result.problems.extend(check_replay(firm, titles[firm.id], chain))
                result.problems.extend(check_side_titles(firm, side_titles.get(firm.id, []), chain))
            result.problems.extend(Problem(*found) for found in verify_award_chains(session, [f.uscc for f in batch]))
    finally:
        stream.close()
    return result


_JSON = json.JSONDecoder()
_EVIDENCE = 1 + [column.name for column in _EVENT_COLUMNS].index("evidence")


class _EventStream:
    """The event rows of a range from a server-side cursor, as :data:`StoredEvent` tuples.

    On PostgreSQL straight from psycopg, with the evidence fetched as JSONB's text and read by ``json.loads`` —
    what psycopg's JSONB loader does, at a third of its cost per row — and the other values as psycopg reads
    them (``recorded_at`` an aware datetime, whatever its zone object). Elsewhere through SQLAlchemy."""

    def __init__(self, rows: Iterator[Any], close: Callable[[], None]) -> None:
        self.rows, self.close = rows, close

    def __iter__(self) -> Iterator[Any]:
        return self.rows


def _stream_events(session: Session, after: int, upto: int, uscc: str | None,
                   region_prefix: str | None) -> _EventStream:
    """The events of the firms ``after < id <= upto`` in scope, in firm and seq order (keyed by the firm's USCC,
    as every check is)."""
    connection = session.connection()
    in_range = (Enterprise.id > after, Enterprise.id <= upto)
    if connection.dialect.name != "postgresql":
        query = _in_scope(select(Enterprise.id.label("firm_id"), *_EVENT_COLUMNS)
                          .join(Enterprise, Enterprise.uscc == Event.uscc).where(*in_range)
                          .order_by(Enterprise.id, Event.seq), uscc, region_prefix)
        result = connection.execute(query, execution_options={"stream_results": True, "yield_per": STREAM_ROWS})
        return _EventStream(map(StoredEvent._make, result), result.close)
    # Each firm's chain through the (uscc, seq) index, firm after firm in id order: a lateral subquery that
    # PostgreSQL may not flatten (OFFSET 0) — flattened, the planner hashed the whole events table for every
    # range — and without JIT, which compiled each range's query for longer than it ran.
    chain = (select(*_EVENT_COLUMNS).where(Event.uscc == Enterprise.uscc).order_by(Event.seq).offset(0)
             .lateral("chain"))
    query = _in_scope(select(Enterprise.id.label("firm_id"),
                             *(cast(chain.c.evidence, Text) if column.name == "evidence" else chain.c[column.name]
                               for column in _EVENT_COLUMNS))
                      .select_from(Enterprise).join(chain, true()).where(*in_range)
                      .order_by(Enterprise.id, chain.c.seq), uscc, region_prefix)
    compiled = query.compile(dialect=connection.dialect)
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("SET LOCAL jit = off")
    cursor = driver.cursor(name=f"verify_events_{after}_{upto}")
    cursor.itersize = STREAM_ROWS
    cursor.execute(str(compiled), compiled.params)
    decode = _JSON.raw_decode
    stored: Any = StoredEvent

    def rows() -> Iterator[Any]:
        for row in cursor:
            text = row[_EVIDENCE]
            try:
                evidence, end = decode(text)  # PostgreSQL writes one document and nothing around it
            except ValueError:
                end = -1
            if end != len(text):  # else json.loads says what is wrong with it
                evidence = json.loads(text)
            yield stored(*row[:_EVIDENCE], evidence, *row[_EVIDENCE + 1:])

    return _EventStream(rows(), cursor.close)


def _join(report: Report, result: RangeResult) -> None:
    report.firms_checked += result.firms_checked
    report.events_checked += result.events_checked
    report.problems.extend(result.problems)
    report.warnings.extend(result.warnings)


def _cutover_id(session: Session) -> int | None:
    return session.scalar(select(func.min(Event.id)).where(Event.hash_recipe == audit.JCS))


def verify(session: Session, *, uscc: str | None = None, region_prefix: str | None = None,
           on_progress: Callable[[int, int], None] | None = None, range_size: int = RANGE) -> Report:
    """Every firm (or one, or those under a region prefix), range by range of :data:`RANGE` firms, in this
    process; ``on_progress(firms done, firms in all)`` after each range. :func:`verify_parallel` shares the
    ranges among worker processes."""
    report = Report()
    total = 0
    if on_progress is not None:
        total = int(session.scalar(_in_scope(select(func.count()).select_from(Enterprise), uscc,
                                             None if uscc is not None else region_prefix)) or 0)
    if uscc is not None:
        region = session.scalar(select(Enterprise.region_code).where(Enterprise.uscc == uscc))
        if region is None or (region_prefix and not region.startswith(region_prefix)):
            raise NotFound(f"未找到企业{uscc} — no enterprise {uscc} in your jurisdiction")
    jsonb = session.get_bind().dialect.name == "postgresql"
    cutover_id = _cutover_id(session)
    for after, upto in firm_ranges(session, uscc, region_prefix, range_size):
        _join(report, check_range(session, after, upto, uscc=uscc, region_prefix=region_prefix, jsonb=jsonb,
                                  cutover_id=cutover_id))
        if on_progress is not None:
            on_progress(report.firms_checked, total)
    if uscc is None and not region_prefix:
        # Record chains beside the firms' (loans, targets, rounds …) belong to no one firm: checked when
        # the whole database is.
        report.problems.extend(Problem(f"{chain}/{key}", seq, problem)
                               for chain, key, seq, problem in ledger.verify_chains(session))
    return report


# --- in worker processes ---------------------------------------------------------------------------------

_worker: dict[str, Any] = {}
"""A worker process's own connection, in a transaction that imported the coordinator's snapshot."""


def _start_worker(url: str, snapshot: str, jsonb: bool, cutover_id: int | None) -> None:
    engine = make_engine(url, poolclass=NullPool)
    connection = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    _worker.update(engine=engine, session=Session(bind=connection), jsonb=jsonb, cutover_id=cutover_id)


def _check_range_in_worker(after: int, upto: int) -> RangeResult:
    return check_range(_worker["session"], after, upto, jsonb=_worker["jsonb"], cutover_id=_worker["cutover_id"])


def verify_parallel(engine: Engine, *, workers: int, on_progress: Callable[[int, int], None] | None = None,
                    range_size: int = RANGE) -> Report:
    """Every firm, its ranges shared among ``workers`` processes that all read one snapshot — the one this
    process exports (``pg_export_snapshot``, as ``pg_dump --jobs`` does), so the report is what a single
    transaction would find, whatever is written meanwhile. The report equals :func:`verify`'s, problems in
    the same order. PostgreSQL only; on SQLite, or with one worker, :func:`verify` runs here."""
    if workers <= 1 or engine.dialect.name != "postgresql":
        with Session(engine) as session, session.begin():
            return verify(session, on_progress=on_progress, range_size=range_size)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection, \
            Session(bind=connection) as session:
        snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        total = int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)
        cutover_id = _cutover_id(session)
        ranges = firm_ranges(session, size=range_size)
        report = Report()
        url = engine.url.render_as_string(hide_password=False)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, max(len(ranges), 1)), mp_context=context,
                                 initializer=_start_worker, initargs=(url, snapshot, True, cutover_id)) as pool:
            futures = [pool.submit(_check_range_in_worker, after, upto) for after, upto in ranges]
            done = 0
            for future in as_completed(futures):
                done += future.result().firms_checked
                if on_progress is not None:
                    on_progress(done, total)
        for future in futures:
            _join(report, future.result())
        report.problems.extend(Problem(f"{chain}/{key}", seq, problem)
                               for chain, key, seq, problem in ledger.verify_chains(session))
        connection.rollback()
    return report


def _digest(lines: Iterator[tuple[str, int, str]]) -> str:
    digest = hashlib.sha256()
    for uscc, seq, head in lines:
        digest.update(f"{uscc},{seq},{head}\n".encode())
    return digest.hexdigest()


def _heads(session: Session, anchor_id: int) -> Iterator[list[Any]]:
    after = ""
    while True:
        batch = list(session.execute(select(AnchorHead.uscc, AnchorHead.seq, AnchorHead.hash)
                                     .where(AnchorHead.anchor_id == anchor_id, AnchorHead.uscc > after)
                                     .order_by(AnchorHead.uscc).limit(BATCH * 4)))
        if not batch:
            return
        yield batch
        after = batch[-1].uscc


def create_anchor(session: Session, actor: Actor, note: str | None = None,
                  key: anchor_signing.SigningKey | None = None) -> Anchor:
    """Record every firm's chain head now (one statement, so one consistent snapshot) and their digest,
    signed with ``key`` (default: the key file named by ``PIPELINE_ANCHOR_KEY``).

    Without a key nothing is written: :class:`~pipeline.errors.AnchorKeyMissing`.
    """
    key = key or anchor_signing.load_signing_key()
    anchor = Anchor(digest="", firms=0, events=0, created_at=utc_now(), actor=actor.id, note=note)
    session.add(anchor)
    session.flush()
    heads = (select(literal(anchor.id, AnchorHead.anchor_id.type), Event.uscc, Event.seq, Event.hash)
             .join(Enterprise, and_(Enterprise.uscc == Event.uscc, Enterprise.last_seq == Event.seq)))
    session.execute(insert(AnchorHead).from_select(["anchor_id", "uscc", "seq", "hash"], heads))
    anchor.firms, anchor.events = 0, 0

    def lines() -> Iterator[tuple[str, int, str]]:
        for batch in _heads(session, anchor.id):
            for row in batch:
                anchor.firms += 1
                anchor.events += row.seq
                yield row.uscc, row.seq, row.hash

    anchor.digest = _digest(lines())
    anchor.signature = anchor_signing.sign(key, signed_fields(anchor))
    anchor.public_key_id = key.key_id
    session.flush()
    return anchor


def signed_fields(anchor: Anchor) -> dict[str, Any]:
    """What the anchor's signature covers (:mod:`pipeline.history.anchor_signing`)."""
    return anchor_signing.signed_fields(anchor.id, anchor.digest, anchor.firms, anchor.events, anchor.created_at)


@dataclass
class AnchorReport:
    anchor: Anchor
    recomputed_digest: str
    firms_checked: int
    events_checked: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems and self.recomputed_digest == self.anchor.digest


def verify_anchor(session: Session, anchor_id: int) -> AnchorReport:
    anchor = session.get(Anchor, anchor_id)
    if anchor is None:
        raise NotFound(f"未找到锚点{anchor_id} — no anchor {anchor_id}")
    problems: list[Problem] = []
    counts = {"firms": 0, "events": 0}
    jsonb = session.get_bind().dialect.name == "postgresql"

    def lines() -> Iterator[tuple[str, int, str]]:
        for batch in _heads(session, anchor_id):
            wanted = {row.uscc: row for row in batch}
            chains = events_by_uscc(session, list(wanted))
            for uscc, head in wanted.items():
                chain = [event for event in chains.get(uscc, []) if event.seq <= head.seq]
                counts["firms"] += 1
                counts["events"] += len(chain)
                recomputed, expected_seq = audit.GENESIS_HASH, 1
                for event in chain:
                    if event.seq != expected_seq:
                        problems.append(Problem(uscc, expected_seq, "锚定前的事件缺失 — an event anchored "
                                                                    "earlier is missing"))
                        expected_seq = event.seq
                    matches = seal_matches(event, recomputed, jsonb=jsonb)[0]
                    recomputed_next = event.hash if matches else audit.chain_hash(
                        recomputed, audit.event_fields(event), audit.recipe_of(event))
                    if not matches or event.prev_hash != recomputed:
                        problems.append(Problem(uscc, event.seq, "锚定后被改动 — this event changed since the "
                                                                 "anchor"))
                    recomputed, expected_seq = recomputed_next, expected_seq + 1
                if expected_seq <= head.seq:
                    problems.append(Problem(uscc, expected_seq, "锚定前的事件缺失 — an event anchored earlier "
                                                                "is missing"))
                yield uscc, head.seq, recomputed

    recomputed_digest = _digest(lines())
    return AnchorReport(anchor, recomputed_digest, counts["firms"], counts["events"], problems)


def anchors(session: Session, limit: int = 100) -> list[Anchor]:
    return list(session.scalars(select(Anchor).order_by(Anchor.id.desc()).limit(limit)))
