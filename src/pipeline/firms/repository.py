"""Firms in the database: load (and lock) a firm with its chain head, write its next event, read its history.

Every business action on a firm starts here, so the queries are written once.
企业仓储：加锁读取企业及其链头，写入下一条事件。
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Protocol

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Executable,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.awards import service as awards
from pipeline.awards.service import OWED_FIELDS
from pipeline.db import driver_statement
from pipeline.errors import NotFound, VersionMismatch
from pipeline.firms.records import FirmRecord, TitleRecord
from pipeline.identifiers import validate_uscc
from pipeline.lifecycle import chain
from pipeline.lifecycle.events import EventRecord, next_event
from pipeline.models import (
    AnnualFiling,
    Base,
    Enterprise,
    Entitlement,
    EntitlementRecord,
    Event,
    Recognition,
    SideTitle,
)
from pipeline.policies.service import latest_versions
from pipeline.rulebooks import Rulebook, get_rulebook


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


class Versioned(Protocol):
    uscc: str
    version: int


def check_version(enterprise: Versioned, expected_version: int | None) -> None:
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
        request_id=request_id, enterprise_id=enterprise.id, user=actor.user,
        previous_hash=previous_hash if previous_hash is not None else head_hash(session, enterprise),
    )
    event = Event(**record.columns())
    session.add(event)
    if flush:
        session.flush()
    return event


def in_pool_on(day: dt.date | ColumnElement[dt.date]) -> ColumnElement[bool]:
    """The firm was not removed from the pool by ``day``: a firm removed as ``relocated`` keeps its titles but
    counts in no region's roster or counts until it is enrolled again (its removal is its latest decision)."""
    return or_(Enterprise.state != "removed", Enterprise.last_effective_date.is_(None),
               Enterprise.last_effective_date > day)


def history(session: Session, enterprise: Enterprise) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.uscc == enterprise.uscc).order_by(Event.seq)))


# --- the Core write path: one statement to lock and load, one to write (PostgreSQL) -------------------------

_FIRMS = Base.metadata.tables[Enterprise.__tablename__]
_TITLES = Base.metadata.tables[Recognition.__tablename__]
_EVENTS = Base.metadata.tables[Event.__tablename__]
_FILINGS = Base.metadata.tables[AnnualFiling.__tablename__]
_SIDE_TITLES = Base.metadata.tables[SideTitle.__tablename__]
_EVENT_COLUMNS = tuple(column.name for column in _EVENTS.c if column.name not in ("id", "tx_id"))
_ENTITLEMENTS = Base.metadata.tables[Entitlement.__tablename__]
_RECORDS = Base.metadata.tables[EntitlementRecord.__tablename__]
_RECORD_COLUMNS = tuple(column.name for column in _RECORDS.c if column.name != "id")
ENTITLEMENT_ID_SEQUENCE = "award_entitlements_id_seq"
_TITLE_FIELDS = ("id", "tier", "document_no", "batch", "recognized_on", "valid_until", "ended_on", "end_reason",
                 "granted_by_seq", "ended_by_seq")


@cache
def _load_statement(postgres: bool, with_indicators: bool, award_slots: tuple[str, ...] = ()) -> Select[Any]:
    """The firm's row locked (``:uscc``), with its chain head, its titles and, ``with_indicators``, its latest
    indicators before ``:before`` (a year) — one statement, built once per shape.

    ``award_slots`` (a recognition some pack pays for) adds what deriving its entitlements reads, only for a
    firm whose region matches one of them (``LIKE`` patterns, one per pack award that could pay):
    the packs' stored versions, the firm's entitlements and, on PostgreSQL, one new entitlement id per matching
    slot (``nextval``) — so the entitlements are sealed before the one statement that writes the event."""
    e, r, v, f, s = _FIRMS.c, _TITLES.c, _EVENTS.c, _FILINGS.c, _SIDE_TITLES.c
    as_array = func.json_build_array if postgres else func.json_array
    aggregate = func.json_agg if postgres else func.json_group_array
    titles = select((func.json_agg if postgres else func.json_group_array)(
        as_array(*(r[name] for name in _TITLE_FIELDS)))).where(r.enterprise_id == e.id).scalar_subquery()
    head = select(v.hash).where(v.uscc == e.uscc, v.seq == e.last_seq).scalar_subquery()
    columns: list[Any] = [e.id, e.uscc, e.name, e.region_code, e.state, e.version, e.barred_until, e.last_seq,
                          e.last_effective_date, e.data, e.flags, e.created_at, e.updated_at,
                          head.label("head"), titles.label("titles")]
    if with_indicators:
        latest = (select(as_array(f.year, f.indicators if postgres else func.json(f.indicators)))
                  .where(f.enterprise_id == e.id, f.indicators.is_not(None), f.year < bindparam("before"))
                  .order_by(f.year.desc()).limit(1).scalar_subquery())
        columns.append(latest.label("latest"))
        side = select((func.json_agg if postgres else func.json_group_array)(
            as_array(s.kind, s.granted_on, s.valid_until, s.ended_on))).where(s.enterprise_id == e.id)
        columns.append(side.scalar_subquery().label("side_titles"))
    if award_slots:
        columns.extend(_awards_columns(postgres, as_array, aggregate, award_slots))
    return select(*columns).where(e.uscc == bindparam("uscc")).with_for_update(of=_FIRMS)


def _awards_columns(postgres: bool, as_array: Any, aggregate: Any, slots: tuple[str, ...]) -> list[Any]:
    """The awards context's columns, the slots written into the statement: a parameter there makes PostgreSQL
    plan the statement afresh at every execution (a custom plan), which cost more than running it."""
    e, a = _FIRMS.c, _ENTITLEMENTS.c
    assert all(re.fullmatch(r"\d{0,6}%", slot) for slot in slots), slots  # digits and one %: safe as literals
    matches: ColumnElement[bool]
    if postgres:
        listed = ", ".join(f"'{slot}'" for slot in slots)
        array: ColumnElement[Any] = literal_column(f"ARRAY[{listed}]::varchar[]")
        matches = e.region_code.like(func.any(array))
    else:
        slot = func.json_each(literal_column("'" + json.dumps(list(slots)) + "'")).table_valued("value")
        matches = select(slot.c.value).where(e.region_code.like(slot.c.value)).exists()
    p = latest_versions().subquery("latest_policy_versions").c
    versions = select(aggregate(as_array(p.document if postgres else func.json(p.document), p.version))
                      ).where(matches)
    owed = select(aggregate(as_array(*(a[name] for name in OWED_FIELDS)))).where(a.uscc == e.uscc, matches)
    columns = [versions.scalar_subquery().label("award_versions"), owed.scalar_subquery().label("award_owed")]
    if postgres:
        slot = func.unnest(array).table_valued("value").render_derived("slot")
        ids = (select(func.array_agg(func.nextval(literal_column(f"'{ENTITLEMENT_ID_SEQUENCE}'"))))
               .where(e.region_code.like(slot.c.value)))
        columns.append(ids.scalar_subquery().label("award_ids"))
    return columns


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _run(session: Session, statement: Executable, params: dict[str, Any], postgres: bool) -> Sequence[Any]:
    """The hot path's statements: on PostgreSQL straight on the driver (:class:`pipeline.db.DriverStatement`)."""
    if postgres:
        return driver_statement(statement, session.get_bind().dialect).execute(session, params)
    result: Any = session.execute(statement, params)  # a Core statement's CursorResult: it says if it has rows
    return result.all() if result.returns_rows else []


def _one_or_none(session: Session, statement: Executable, params: dict[str, Any], postgres: bool) -> Any:
    rows = _run(session, statement, params, postgres)
    assert len(rows) <= 1, "one firm per USCC"
    return rows[0] if rows else None


def lock_record(session: Session, uscc: str, actor: Actor, *, indicators_before: int | None = None,
                arrives_in: str | None = None, award_slots: Sequence[str] = (),
                ) -> tuple[FirmRecord, tuple[int, Any] | None, awards.Context | None]:
    """The firm as a plain :class:`FirmRecord`, its row locked, with its chain head and titles — and, with
    ``indicators_before``, its newest ``(year, indicators)`` before that year — and, with ``award_slots``
    (:func:`pipeline.awards.service.earning_slots`), the awards context of a firm some of them cover — in one
    round trip.

    The firm must be in ``actor``'s jurisdiction, or — with ``arrives_in`` (a region the caller has checked
    the actor covers) — removed: a relocated firm is enrolled again where it arrives.

    On PostgreSQL a statement that waited for the lock sees the locked row at its newest version but its
    subqueries in the snapshot taken before the wait: then the head event (the one at the row's
    ``last_seq``) is invisible and comes back NULL. Every change to titles appends an event, so a NULL head
    is exactly "the subqueries are stale": the statement runs once more, now after the lock holder committed.
    """
    code = validate_uscc(uscc)
    postgres = session.get_bind().dialect.name == "postgresql"
    statement = _load_statement(postgres, indicators_before is not None, tuple(award_slots))
    params: dict[str, Any] = {"uscc": code, "before": indicators_before}
    row = _one_or_none(session, statement, params, postgres)
    if row is not None and row.head is None and row.last_seq > 0:
        row = _one_or_none(session, statement, params, postgres)
    if row is None or not (actor.covers(row.region_code) or (arrives_in is not None and row.state == "removed")):
        raise NotFound(f"未找到企业{code} — no enterprise {code} in your jurisdiction")
    titles = []
    for values in sorted(_json(row.titles) or [], key=lambda item: item[0]):
        item = dict(zip(_TITLE_FIELDS, values, strict=True))
        ended_on = _day(item["ended_on"])
        titles.append(TitleRecord(
            id=item["id"], tier=item["tier"], document_no=item["document_no"], batch=item["batch"],
            recognized_on=_day(item["recognized_on"]), valid_until=_day(item["valid_until"]),  # type: ignore[arg-type]
            ended_on=ended_on, end_reason=item["end_reason"], granted_by_seq=item["granted_by_seq"],
            ended_by_seq=item["ended_by_seq"], stored_end=(ended_on, item["end_reason"], item["ended_by_seq"])))
    firm = FirmRecord(
        id=row.id, uscc=row.uscc, name=row.name, region_code=row.region_code, state=row.state, version=row.version,
        last_seq=row.last_seq, barred_until=row.barred_until, last_effective_date=row.last_effective_date,
        created_at=row.created_at, updated_at=row.updated_at, recognitions=titles, data=row.data or {},
        flags=row.flags or {}, head_hash=row.head, stored_version=row.version)
    if indicators_before is not None:
        firm.side_titles = [(kind, _day(granted_on), _day(valid_until), _day(ended_on))  # type: ignore[misc]
                            for kind, granted_on, valid_until, ended_on in _json(row.side_titles) or []]
    latest = _json(row.latest) if indicators_before is not None else None
    context = None
    if award_slots and awards.may_pay_here(firm.region_code):
        context = awards.context_from(((_json(document), version) for document, version in
                                       _json(row.award_versions) or []),
                                      _json(row.award_owed) or [], (row.award_ids or []) if postgres else [])
    return firm, (int(latest[0]), latest[1]) if latest else None, context


_FIRM_SET = ("state", "version", "barred_until", "last_seq", "last_effective_date", "updated_at")
_END_SET = ("ended_on", "end_reason", "ended_by_seq")
_GRANT_COLUMNS = ("tier", "document_no", "batch", "recognized_on", "valid_until", "ended_on", "end_reason",
                  "granted_by_seq", "ended_by_seq")


def moved_away(session: Session, firm: FirmRecord) -> bool:
    """The firm was removed by a removal that left its titles held (``relocated`` in both rulebooks): it
    moved away and may be enrolled again where it arrives."""
    removal = session.execute(select(Event.reason_code, Event.rulebook_id, Event.rulebook_hash)
                              .where(Event.enterprise_id == firm.id, Event.trigger == "remove")
                              .order_by(Event.seq.desc()).limit(1)).one_or_none()
    if firm.state != "removed" or removal is None:
        return False
    return not get_rulebook(removal.rulebook_id, removal.rulebook_hash).remove_ends_titles_for(removal.reason_code)


def move(session: Session, firm: FirmRecord, region_code: str) -> None:
    """Write the firm's new region (a relocated firm enrolled again where it arrived)."""
    session.execute(update(_FIRMS).where(_FIRMS.c.id == firm.id).values(region_code=region_code))


def _param(table: Table, column: str, name: str) -> BindParameter[Any]:
    return bindparam(name, type_=table.c[column].type)


@cache
def _write_statements(postgres: bool, ended: int, granted: int, entitlements: int = 0) -> tuple[Executable, ...]:
    """The statements that write a decision with ``ended`` titles ended and ``granted`` granted (and
    ``entitlements`` derived entitlements with their first records), built once per shape: one statement of
    data-modifying CTEs on PostgreSQL, one per row on SQLite."""
    firm = update(_FIRMS).where(_FIRMS.c.id == bindparam("firm_id")).values(
        {name: _param(_FIRMS, name, f"firm_{name}") for name in _FIRM_SET})
    ends = [update(_TITLES).where(_TITLES.c.id == bindparam(f"end{i}_id")).values(
        {name: _param(_TITLES, name, f"end{i}_{name}") for name in _END_SET}) for i in range(ended)]
    # one single-row INSERT per title: a multi-row VALUES statement is not cached by SQLAlchemy
    grants = [insert(_TITLES).values({"enterprise_id": bindparam("firm_id"), **{
        name: _param(_TITLES, name, f"grant{j}_{name}") for name in _GRANT_COLUMNS}}) for j in range(granted)]
    event = insert(_EVENTS).values({name: _param(_EVENTS, name, f"event_{name}") for name in _EVENT_COLUMNS})
    # an entitlement's record refers to it: both go in this statement, whose foreign keys are checked at its end
    owed: list[Any] = [
        insert(table).values({name: _param(table, name, f"{prefix}{k}_{name}") for name in columns})
        for k in range(entitlements)
        for table, prefix, columns in ((_ENTITLEMENTS, "entitlement", awards.ENTITLEMENT_COLUMNS),
                                       (_RECORDS, "record", _RECORD_COLUMNS))]
    if postgres:
        # one JSON parameter per table, however many rows: psycopg caches the parsing of a statement only up to
        # 50 parameters, and a statement shape per count would be built for nothing
        owed = [_insert_json_rows(_ENTITLEMENTS, awards.ENTITLEMENT_COLUMNS, "entitlement_rows"),
                _insert_json_rows(_RECORDS, _RECORD_COLUMNS, "record_rows")] if entitlements else []
        return (event.add_cte(firm.cte("firm"), *(u.cte(f"ended_{i}") for i, u in enumerate(ends)),
                              *(g.cte(f"granted_{j}") for j, g in enumerate(grants)),
                              *(o.cte(f"owed_{k}") for k, o in enumerate(owed))),)
    return (firm, *ends, *grants, event, *owed)


def _insert_json_rows(table: Table, columns: Sequence[str], name: str) -> Executable:
    """``INSERT INTO table SELECT … FROM jsonb_populate_recordset(NULL::table, :name)`` (PostgreSQL): the rows
    come as one JSON array of objects, each column's text parsed by the column's own type."""
    rows = func.jsonb_populate_recordset(literal_column(f"NULL::{table.name}"),
                                         cast(bindparam(name, type_=Text()), postgresql.JSONB)).table_valued(*columns)
    return insert(table).from_select(list(columns), select(*(rows.c[column] for column in columns)))


def write_record(session: Session, firm: FirmRecord, event: EventRecord,
                 entitlements: Sequence[awards.Derived] = ()) -> None:
    """Write what a decision changed — the firm's row, titles granted and ended, the event, the entitlements
    it earned — as one statement on PostgreSQL (data-modifying CTEs), in order on SQLite; then expire any ORM
    copy of the firm in the session, so nothing reads or flushes a stale one."""
    assert firm.id is not None
    params: dict[str, Any] = {"firm_id": firm.id, **{f"firm_{name}": getattr(firm, name) for name in _FIRM_SET}}
    ended = [t for t in firm.recognitions if t.id is not None and t.end_changed()]
    for i, title in enumerate(ended):
        params[f"end{i}_id"] = title.id
        params.update({f"end{i}_{name}": getattr(title, name) for name in _END_SET})
    granted = [t for t in firm.recognitions if t.id is None]
    for j, title in enumerate(granted):
        params.update({f"grant{j}_{name}": getattr(title, name) for name in _GRANT_COLUMNS})
    params.update({f"event_{name}": value for name, value in event.columns().items()})
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and entitlements:
        # serialised here, dates and times as ISO 8601 text (what each column's type parses)
        params["entitlement_rows"] = orjson.dumps([derived.entitlement.columns() for derived in entitlements]
                                                  ).decode()
        params["record_rows"] = orjson.dumps([derived.record for derived in entitlements]).decode()
    for k, derived in enumerate(() if postgres else entitlements):
        params.update({f"entitlement{k}_{name}": value for name, value in derived.entitlement.columns().items()})
        params.update({f"record{k}_{name}": value for name, value in derived.record.items()})
    shape = min(len(entitlements), 1) if postgres else len(entitlements)
    for statement in _write_statements(postgres, len(ended), len(granted), shape):
        _run(session, statement, params, postgres)
    _note_written(session, event)
    _expire_orm_copies(session, firm.id)


WRITTEN_EVENTS = "pipeline_new_events"
"""``session.info`` key: ``(kind, trigger)`` of each event the Core write path added in this transaction (the
ORM path's are in ``session.new``), for whoever counts committed events (``/metrics``)."""


def _note_written(session: Session, event: EventRecord) -> None:
    session.info.setdefault(WRITTEN_EVENTS, []).append((event.kind, event.trigger or event.kind))


_NEW_FIRM_COLUMNS = ("uscc", "name", "region_code", "state", "version", "barred_until", "last_seq",
                     "last_effective_date", "data", "flags", "created_at", "updated_at")


@cache
def _insert_statements(postgres: bool) -> tuple[Executable, ...]:
    """A new firm and its first event, unless the USCC exists: one statement on PostgreSQL (the event is
    selected from the firm's insert, so a conflict inserts neither), two on SQLite."""
    values = {name: _param(_FIRMS, name, f"firm_{name}") for name in _NEW_FIRM_COLUMNS}
    event_columns = [name for name in _EVENT_COLUMNS if name != "enterprise_id"]
    event_values = [_param(_EVENTS, name, f"event_{name}") for name in event_columns]
    if postgres:
        firm = (postgresql.insert(_FIRMS).values(values).on_conflict_do_nothing(index_elements=["uscc"])
                .returning(_FIRMS.c.id).cte("firm"))
        return (insert(_EVENTS).from_select(["enterprise_id", *event_columns], select(firm.c.id, *event_values))
                .returning(_EVENTS.c.enterprise_id),)
    firm_insert = (sqlite.insert(_FIRMS).values(values).on_conflict_do_nothing(index_elements=["uscc"])
                   .returning(_FIRMS.c.id))
    return firm_insert, insert(_EVENTS).values(
        {"enterprise_id": bindparam("firm_id"), **dict(zip(event_columns, event_values, strict=True))})


def insert_record(session: Session, firm: FirmRecord, event: EventRecord) -> bool:
    """Insert a new firm with its first event; ``False`` (and nothing written) when the USCC exists.
    Sets ``firm.id`` and ``event.enterprise_id``."""
    params: dict[str, Any] = {f"firm_{name}": getattr(firm, name) for name in _NEW_FIRM_COLUMNS}
    params.update({f"event_{name}": value for name, value in event.columns().items()})
    postgres = session.get_bind().dialect.name == "postgresql"
    statements = _insert_statements(postgres)
    inserted = _one_or_none(session, statements[0], params, postgres)
    firm_id = None if inserted is None else inserted[0]
    if firm_id is None:
        return False
    if len(statements) > 1:
        session.execute(statements[1], {**params, "firm_id": firm_id})
    firm.id = event.enterprise_id = int(firm_id)
    _note_written(session, event)
    return True


def _expire_orm_copies(session: Session, firm_id: int) -> None:
    for instance in list(session.identity_map.values()):
        if (isinstance(instance, Enterprise) and instance.id == firm_id) or (
                isinstance(instance, Recognition) and instance.enterprise_id == firm_id):
            session.expire(instance)
