"""Reading the ledger: one firm's entitlements with the reasons its other achievements earned nothing, one
entitlement's chain, and re-deriving what history recorded before a pack existed (``pipeline awards sync``)."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.awards import ledger
from pipeline.awards.service import (
    OWED_FIELDS,
    Context,
    Derived,
    Existing,
    IdPool,
    Owed,
    Settle,
    copy_batches,
    derive,
    evaluate,
    manual_entitlement,
    may_pay_here,
    side_title_kind,
    write,
)
from pipeline.dates import business_today
from pipeline.db import connection_rows, json_document, per_firm, quick_handoffs, send_batches, without_jit
from pipeline.errors import Forbidden, NotFound
from pipeline.firms import repository
from pipeline.history.replay import CORRECTION_KIND, voided_seqs
from pipeline.lifecycle.machine import RECOGNITION_TIER
from pipeline.models import Enterprise, Entitlement, EntitlementRecord, Event, Recognition
from pipeline.policies import PolicyPack
from pipeline.policies.service import current_packs, get_pack
from pipeline.rulebooks import rulebook_in_force
from pipeline.webhooks import queue

CREATE = "create_award"
SYNC_CHUNK = 1000
ACHIEVING_TRIGGERS = [*RECOGNITION_TIER, "grant_side_title"]
"""The triggers of events that may earn (with corrections, which may void them): what a sync reads of history."""


def _achievements(events: Sequence[Any]) -> list[Any]:
    voided = voided_seqs(events)
    return [e for e in events if e.seq not in voided
            and (e.trigger in RECOGNITION_TIER or side_title_kind(e) is not None)]


def firm_awards(session: Session, uscc: str, actor: Actor) -> dict[str, Any]:
    """``{items, unearned}``: every entitlement of the firm (cancelled ones included), and for each of its
    achievements that earned nothing under a pack covering it, why."""
    enterprise = repository.get_enterprise(session, uscc, actor)
    items = list(session.scalars(select(Entitlement).where(Entitlement.uscc == enterprise.uscc)
                                 .order_by(Entitlement.id)))
    packs = current_packs(session)
    unearned: list[dict[str, Any]] = []
    for event in _achievements(repository.history(session, enterprise)):
        _, refused = evaluate(packs, enterprise.region_code, event, enterprise.recognitions)
        unearned.extend(reason.as_dict() for reason in refused)
    return {"items": [ledger.view(e) for e in items], "unearned": unearned}


def get_entitlement(session: Session, entitlement_id: int, actor: Actor) -> Entitlement:
    """An entitlement the actor may see: its firm in the actor's jurisdiction, or one of its shares paid by a
    region the actor covers (a finance bureau sees what it pays)."""
    entitlement = session.get(Entitlement, entitlement_id)
    if entitlement is None or not (actor.covers(entitlement.region_code) or any(
            actor.covers(share["region_code"]) for share in entitlement.payers)):
        raise NotFound(f"未找到奖励应享记录{entitlement_id} — no entitlement {entitlement_id} in your jurisdiction")
    return entitlement


def history(session: Session, entitlement_id: int, actor: Actor) -> list[EntitlementRecord]:
    return ledger.records(session, get_entitlement(session, entitlement_id, actor).id)


@dataclass
class SyncReport:
    applied: bool
    firms_checked: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "firms_checked": self.firms_checked, "created": len(self.created),
                "items": self.created}


def sync(session: Session, *, actor: Actor, apply: bool, settle: Settle = "owed",
         uscc: str | None = None, usccs: Collection[str] | None = None) -> SyncReport:
    """Derive what every recorded achievement is owed under the packs now in force and has not been derived
    yet (history recorded before a pack existed, or before an official entered an amount). Idempotent: a second
    run creates nothing. A dry run (``apply=False``) writes inside a savepoint and rolls it back."""
    report = SyncReport(applied=apply)
    if settle == "none":
        return report
    without_jit(session)
    packs = PacksByRegion(current_packs(session))
    savepoint = session.begin_nested()
    try:
        if session.get_bind().dialect.name == "postgresql":
            _sync_postgres(session, report, packs, actor.id, settle, uscc, usccs)
        else:
            ids = IdPool(session)
            chunks = _firm_chunks(session, uscc, usccs)
            while (loaded := _load(session, next(chunks, None))) is not None:
                derived = _derive_chunk(report, packs, *loaded, actor=actor.id, settle=settle, allocate=ids.take)
                write(session, derived)
    finally:
        if apply:
            savepoint.commit()
        else:
            savepoint.rollback()
    return report


History = tuple[Any, list[Any], list[Any], list[Existing]]
"""A firm that may be paid here, its achieving events in seq order, its titles and its entitlements."""


def _derive_chunk(report: SyncReport, packs: PacksByRegion, firms: list[Any], histories: list[History],
                  *, actor: str, settle: Settle, allocate: Callable[[int], list[int]]) -> list[Derived]:
    """What a chunk's firms are owed and not yet derived, in firm then event order; counted into ``report``."""
    report.firms_checked += len(firms)
    derived = []
    for firm, events, titles, existing in histories:
        context = Context(packs[firm.region_code], existing)
        for event in _achievements(events):
            earned = derive(firm, event, titles, context, actor=actor, settle=settle, allocate=allocate)
            context.existing.extend(item.entitlement for item in earned)  # stacking sees them next
            derived.extend(earned)
    report.created.extend(item.record["details"] for item in derived)  # the view as created
    return derived


class PacksByRegion(dict[str, tuple[PolicyPack, ...]]):
    """Region → the packs, in their order, whose jurisdiction covers it: all that :func:`evaluate` looks at of them
    for a firm there (it skips the others) — worked out once a region in a sync, not once an event and pack."""

    def __init__(self, packs: tuple[PolicyPack, ...]) -> None:
        super().__init__()
        self.packs = packs

    def __missing__(self, region_code: str) -> tuple[PolicyPack, ...]:
        covering = self[region_code] = tuple(pack for pack in self.packs if pack.covers(region_code))
        return covering


def _sync_postgres(session: Session, report: SyncReport, packs: PacksByRegion, actor: str, settle: Settle,
                   uscc: str | None, usccs: Collection[str] | None) -> None:
    """:func:`sync` on PostgreSQL: the database's work beside Python's, as an import's ``ChunkWriter`` does it.

    A writer thread runs, on the session's psycopg connection, the previous chunk's ``COPY`` and then the reads of
    the chunk after the one being derived (written-out statements: :func:`_read_chunk`); new ids are drawn on the
    same connection, between two of its statements; the session is the calling thread's alone. The next chunk is
    read before this one is written: its firms are others, so nothing it reads is written here."""
    connection: Any = session.connection().connection.driver_connection
    ids = IdPool(session, connection=connection)
    chunks = _postgres_firm_chunks(connection, uscc, usccs)
    with quick_handoffs(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-writer") as writer:
        reading = writer.submit(_read_chunk, connection, chunks)
        sending: Future[None] | None = None
        while (read := reading.result()) is not None:
            reading = writer.submit(_read_chunk, connection, chunks)  # behind the previous chunk's COPY
            derived = _derive_chunk(report, packs, *_histories(read), actor=actor, settle=settle, allocate=ids.take)
            batches = copy_batches(session, derived)
            if sending is not None:
                sending.result()
            sending = writer.submit(send_batches, batches)
        if sending is not None:
            sending.result()


def _load(session: Session, firms: list[Any] | None) -> tuple[list[Any], list[History]] | None:
    """A chunk of firms with the history of those that may be paid here (the others: no history read)."""
    if firms is None:
        return None
    paying = [firm for firm in firms if may_pay_here(firm.region_code)]
    return firms, list(_with_history(session, paying))


def _firm_chunks(session: Session, uscc: str | None, usccs: Collection[str] | None) -> Iterator[list[Any]]:
    """(id, uscc, region_code) of the firms to sync, a chunk at a time, by id."""
    query = select(Enterprise.id, Enterprise.uscc, Enterprise.region_code).order_by(Enterprise.id)
    if uscc is not None:
        query = query.where(Enterprise.uscc == uscc)
    if usccs is not None:
        codes = sorted(usccs)
        for start in range(0, len(codes), SYNC_CHUNK):
            yield list(session.execute(query.where(Enterprise.uscc.in_(codes[start:start + SYNC_CHUNK]))))
        return
    after = 0
    while chunk := list(session.execute(query.where(Enterprise.id > after).limit(SYNC_CHUNK))):
        yield chunk
        after = chunk[-1].id


def _with_history(session: Session, firms: list[Any]) -> Iterator[History]:
    """Each firm with its events that may earn or void (recognitions, side-title grants, corrections) in seq
    order, its titles and its entitlements — three statements for the whole chunk (:func:`pipeline.db.per_firm`)."""
    if not firms:
        return
    ids = [firm.id for firm in firms]
    postgres = session.get_bind().dialect.name == "postgresql"

    def by_firm(query: Any, firm_column: Any, order: Any) -> dict[int, list[Any]]:
        """The rows of ``query`` (its first column the firm's id) for the chunk's firms, grouped by firm."""
        grouped: dict[int, list[Any]] = {firm_id: [] for firm_id in ids}
        for row in session.execute(per_firm(query, firm_column, ids, postgres, order)):
            grouped[row[0]].append(row)
        return grouped

    achieving = or_(Event.trigger.in_(ACHIEVING_TRIGGERS), Event.kind == CORRECTION_KIND)
    events = by_firm(select(Event.enterprise_id, Event.seq, Event.kind, Event.trigger, Event.reason_code,
                            Event.effective_date, Event.evidence).where(achieving), Event.enterprise_id, Event.seq)
    titles = by_firm(select(Recognition.enterprise_id, Recognition.tier, Recognition.granted_by_seq,
                            Recognition.end_reason), Recognition.enterprise_id, Recognition.id)
    owed_rows = by_firm(select(Entitlement.enterprise_id, *(getattr(Entitlement, name) for name in OWED_FIELDS)),
                        Entitlement.enterprise_id, Entitlement.id)
    owed: dict[int, list[Existing]] = {firm_id: [Owed(*row[1:]) for row in rows] for firm_id, rows in owed_rows.items()}
    for firm in firms:
        yield firm, events[firm.id], titles[firm.id], owed[firm.id]


# --- The reads of a sync on PostgreSQL: written out, on the driver's connection ---------------------------------
# Built, compiled and wrapped by SQLAlchemy (the ORM reads above, id lists rendered as literal IN (…) lists for
# psycopg to parse), the reads took 3.1 s of a 50,000-firm import's 9.8 s of sync, none of it beside the derivation.
# Here: the firms by a code array, their rows firm by firm as pipeline.db.per_firm reads them (LATERAL over unnest of
# the ids: an index serves it whatever the statistics say), id and code lists in binary (%b), and each event's
# evidence as text that orjson decodes if it is read at all (psycopg's jsonb loader, the standard library's json, is
# 4× slower and decodes all).

FirmRow = namedtuple("FirmRow", ["id", "uscc", "region_code"])
_UNREAD = object()


class EventRow:
    """An achieving event as a sync reads it on PostgreSQL, its evidence (jsonb text) decoded when first asked for:
    most events' never is (a correction's names what it voids, a side-title grant's its kind, a matching award's
    grant the funds; a recognition paid a fixed amount needs none)."""

    __slots__ = ("_evidence", "_text", "effective_date", "kind", "reason_code", "seq", "trigger")

    def __init__(self, seq: int, kind: str, trigger: str | None, reason_code: str | None,
                 effective_date: dt.date, evidence: str | None) -> None:
        self.seq, self.kind, self.trigger, self.reason_code = seq, kind, trigger, reason_code
        self.effective_date = effective_date
        self._text = evidence
        self._evidence: Any = _UNREAD

    @property
    def evidence(self) -> Any:
        if self._evidence is _UNREAD:
            self._evidence = json_document(self._text)
        return self._evidence


TitleRow = namedtuple("TitleRow", ["tier", "granted_by_seq", "end_reason"])

_FIRMS = "SELECT id, uscc, region_code FROM enterprises"
_FIRMS_BY_CODES = f"{_FIRMS} WHERE uscc = ANY(%b::varchar[]) ORDER BY id"
_FIRMS_AFTER = f"{_FIRMS} WHERE id > %s ORDER BY id LIMIT %s"
_FIRM_AFTER = f"{_FIRMS} WHERE id > %s AND uscc = %s ORDER BY id LIMIT %s"


def _per_firm_sql(columns: str, table: str, order: str, where: str = "") -> str:
    """:func:`pipeline.db.per_firm`'s statement for the firms ``%b`` (a bigint array; ``where``'s parameters
    after it), the firm's id first."""
    outer = ", ".join("r." + column.split("::")[0] for column in columns.split(", "))  # a cast keeps the name
    return (f"SELECT firm.id, {outer} "  # noqa: S608
            f"FROM unnest(%b::bigint[]) AS firm(id) JOIN LATERAL (SELECT {columns}, {order} AS _order "
            f"FROM {table} WHERE {table}.enterprise_id = firm.id {where} OFFSET 0) AS r ON true "
            f"ORDER BY firm.id, r._order")


_EVENTS = _per_firm_sql("seq, kind, trigger, reason_code, effective_date, evidence::text", "events", "seq",
                        "AND (trigger = ANY(%s::varchar[]) OR kind = %s)")
_TITLES = _per_firm_sql("tier, granted_by_seq, end_reason", "recognitions", "id")
_OWED = _per_firm_sql(", ".join(OWED_FIELDS), "award_entitlements", "id")


@dataclass(frozen=True)
class ChunkRead:
    """A chunk's firms and, for those that may be paid here, their rows as the database returned them (made into
    a chunk's histories by :func:`_histories`, on the deriving thread: the writer's goes on to its next statement)."""

    firms: list[Any]
    paying: list[Any]
    events: list[Any]
    titles: list[Any]
    owed: list[Any]


def _postgres_firm_chunks(connection: Any, uscc: str | None, usccs: Collection[str] | None,
                          ) -> Iterator[list[Any]]:
    """:func:`_firm_chunks` on the psycopg ``connection``: (id, uscc, region_code) of the firms to sync, a chunk at
    a time, by id."""
    if usccs is not None:
        codes = sorted(usccs)
        for start in range(0, len(codes), SYNC_CHUNK):
            yield _firm_rows(connection_rows(connection, _FIRMS_BY_CODES, (codes[start:start + SYNC_CHUNK],)))
        return
    after = 0
    while chunk := _firm_rows(connection_rows(connection, *((_FIRMS_AFTER, (after, SYNC_CHUNK)) if uscc is None
                                                            else (_FIRM_AFTER, (after, uscc, SYNC_CHUNK))))):
        yield chunk
        after = chunk[-1].id


def _firm_rows(rows: list[Any]) -> list[Any]:
    return [FirmRow._make(row) for row in rows]


def _read_chunk(connection: Any, chunks: Iterator[list[Any]]) -> ChunkRead | None:
    """The next chunk of firms and the rows of those that may be paid here; ``None`` after the last. Runs on the
    writer thread, the only one that advances ``chunks``."""
    firms = next(chunks, None)
    if firms is None:
        return None
    paying = [firm for firm in firms if may_pay_here(firm.region_code)]
    if not paying:
        return ChunkRead(firms, paying, [], [], [])
    ids = [firm.id for firm in paying]
    return ChunkRead(firms, paying, connection_rows(connection, _EVENTS, (ids, ACHIEVING_TRIGGERS, CORRECTION_KIND)),
                     connection_rows(connection, _TITLES, (ids,)), connection_rows(connection, _OWED, (ids,)))


def _histories(read: ChunkRead) -> tuple[list[Any], list[History]]:
    """A chunk read on PostgreSQL as :func:`_load` returns it: its firms, and the paying ones with their rows."""
    events: dict[int, list[Any]] = {firm.id: [] for firm in read.paying}
    titles: dict[int, list[Any]] = {firm.id: [] for firm in read.paying}
    owed: dict[int, list[Existing]] = {firm.id: [] for firm in read.paying}
    for firm_id, seq, kind, trigger, reason_code, effective_date, evidence in read.events:
        events[firm_id].append(EventRow(seq, kind, trigger, reason_code, effective_date, evidence))
    for firm_id, *title in read.titles:
        titles[firm_id].append(TitleRow._make(title))
    for firm_id, *entitlement in read.owed:
        owed[firm_id].append(Owed(*entitlement))
    return read.firms, [(firm, events[firm.id], titles[firm.id], owed[firm.id]) for firm in read.paying]


def create_manual(session: Session, uscc: str, policy_id: str, award_id: str, *, effective_date: dt.date,
                  basis: str, evidence: dict[str, Any], actor: Actor, request_id: str | None = None) -> Entitlement:
    """A manual entitlement (``POST /api/v1/awards``): an official of the firm's jurisdiction, the firm's row
    locked so that stacking sees every entitlement of its group."""
    require_permission(rulebook_in_force(business_today()), actor, CREATE)
    enterprise = repository.get_enterprise(session, uscc, actor, for_update=True)
    if actor.role not in ("official", "admin"):
        raise Forbidden("人工应享记录须由官员录入 — only an official enters a manual entitlement", action=CREATE)
    pack = get_pack(session, policy_id)
    award = pack.award(award_id)
    if award is None:
        raise NotFound(f"政策包{policy_id}没有奖励{award_id} — pack {policy_id} has no award {award_id!r}; awards: "
                       f"{', '.join(a.id for a in pack.awards)}")
    subscriptions = queue.catch_up(session)
    entitlement = manual_entitlement(session, enterprise, pack, award, effective_date=effective_date,
                                     basis=basis.strip(), evidence=evidence, actor=actor.id, request_id=request_id)
    queue.enqueue_award_change(session, subscriptions, entitlement, "create")  # no firm event carries it
    return entitlement
