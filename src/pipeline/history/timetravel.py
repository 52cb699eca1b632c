"""Point in time: a firm on a date as recorded by a time, the roster of titled firms on a date, and the
counts officials report upward.

Two axes (SPEC §3): ``as_of`` is the business date (effective dates), ``known_at`` the recorded time.
With ``known_at`` absent (now) the roster is answered from the ``recognitions`` table (a title is valid on
a day when ``recognized_on <= day <= valid_until`` and it has not ended by then), which the indexes
``ix_recognitions_tier_recognized_on`` and ``ix_recognitions_enterprise_id`` serve. For a past ``known_at``
the title rows are not enough (a void reopens rows in place), so those firms are replayed from their
events (:func:`pipeline.history.replay.replay`); the candidates are the firms with a title row granted by an
event recorded by then.
"""

from __future__ import annotations

import datetime as dt
import gc
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Date, Dialect, Integer, Select, String, and_, bindparam, case, func, select, true
from sqlalchemy.orm import Session

from pipeline.access import Actor, in_jurisdiction
from pipeline.dates import utc_now
from pipeline.errors import InvalidInput
from pipeline.firms import repository
from pipeline.history.replay import ReplayedFirm, events_by_uscc, replay
from pipeline.identifiers import region_prefix, validate_region
from pipeline.lifecycle.guards import PlainTitle
from pipeline.models import Enterprise, Event, Recognition
from pipeline.rulebooks import TITLE_TIERS
from pipeline.titles import roster as side_roster

LEVELS = (("province", 2), ("city", 4), ("district", 6))


def firm_at(session: Session, enterprise: Enterprise, *, as_of: dt.date,
            known_at: dt.datetime | None = None) -> ReplayedFirm:
    return replay(repository.history(session, enterprise), as_of=as_of, known_at=known_at)


@dataclass(slots=True)
class RosterEntry:
    enterprise_id: int
    uscc: str
    name: str
    region_code: str
    titles: list[Any] = field(default_factory=list)
    """The titles held on the date (ORM rows or replayed titles), lowest tier first."""

    @property
    def highest_tier(self) -> str:
        """The highest tier held, or — in a roster of a side-title kind — that kind."""
        tiers = [t.tier for t in self.titles if t.tier in TITLE_TIERS]
        return str(max(tiers, key=TITLE_TIERS.index)) if tiers else str(self.titles[0].tier)


def _check_tier(tier: str | None) -> None:
    if tier is not None and tier not in TITLE_TIERS:
        raise InvalidInput(f"未知称号 — unknown tier {tier!r}; tiers: {', '.join(TITLE_TIERS)}; side titles: "
                           f"{', '.join(side_roster.side_title_kinds())}", field="tier")


def uses_replay(known_at: dt.datetime | None) -> bool:
    """A past ``known_at`` is answered by replay; ``None`` or a time not yet passed by the title rows."""
    return known_at is not None and known_at < utc_now()


def roster(session: Session, actor: Actor, *, as_of: dt.date, tier: str | None = None, region: str | None = None,
           known_at: dt.datetime | None = None, after_id: int = 0, limit: int = 100) -> tuple[list[RosterEntry], bool]:
    """Firms holding a title (of ``tier``, which may be a side-title kind) on ``as_of``, by enterprise id after
    ``after_id``; and whether more."""
    if tier is not None and side_roster.is_side_title_kind(tier):
        found, more = side_roster.holders(session, actor, kind=tier, as_of=as_of, region=region,
                                          known_at=known_at if uses_replay(known_at) else None, after_id=after_id,
                                          limit=limit)
        return [RosterEntry(row.id, row.uscc, row.name, row.region_code, held) for row, held in found], more
    _check_tier(tier)
    if known_at is not None and uses_replay(known_at):
        return _roster_replayed(session, actor, as_of=as_of, tier=tier, region=region, known_at=known_at,
                                after_id=after_id, limit=limit)
    prefixes = [prefix for prefix in (actor.region_prefix, region_prefix(validate_region(region, field="region"))
                                      if region is not None else None) if prefix]  # as in_jurisdiction scopes
    params: dict[str, Any] = {"day": as_of, "after": after_id, "firms": limit + 1,
                              "rows": (limit + 1) * ROWS_PER_FIRM, "tier": tier,
                              **{f"prefix{i}": prefix for i, prefix in enumerate(prefixes)}}
    connection = session.connection()
    rows: list[Any]
    entries: list[RosterEntry] = []
    collecting = gc.isenabled()
    gc.disable()  # a page is a few thousand objects without a cycle among them: collections over the whole heap
    try:          # that their allocation would set off were a third of the page's Python time
        if connection.dialect.name == "postgresql":
            # The rows as plain tuples straight from the driver: 400,000 firms make 800 pages of 500, and the
            # Core result's per-row wrapping was a fair share of the Python side. Same statement, same transaction.
            sql, defaults = _compiled_page(tier is not None, len(prefixes), connection.dialect)
            driver = connection.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor:
                cursor.execute(sql, {**defaults, **params})
                rows = cursor.fetchall()
        else:
            rows = list(connection.execute(_page_statement(tier is not None, len(prefixes)), params))
        add = entries.append
        last, titles = None, []
        for row in rows:  # in firm order: a firm's titles follow one another
            if row[0] != last:
                last, titles = row[0], [PlainTitle(*row[4:])]
                add(RosterEntry(last, row[1], row[2], row[3], titles))
            else:
                titles.append(PlainTitle(*row[4:]))
    finally:
        if collecting:
            gc.enable()
    if len(entries) <= limit and len(rows) == params["rows"]:
        # The row limit cut the read short (firms holding more than ROWS_PER_FIRM titles each): the last firm
        # read may lack titles, so it starts the next page — or, alone, has a page of its own, read in full.
        if len(entries) == 1:
            return _firm_page(session, entries[0], as_of, tier), True
        return entries[:-1], True
    return entries[:limit], len(entries) > limit


ROWS_PER_FIRM = 3
"""A page reads at most ``(limit + 1) × ROWS_PER_FIRM`` title rows: a firm holds at most one title per tier on a
day, so pages are full; should firms hold more, pages come out shorter (never wrong)."""


@cache
def _page_statement(by_tier: bool, prefixes: int, lateral: bool = False) -> Select[Any]:
    """One roster page in one pass: the first ``:rows`` titles valid on ``:day`` of the firms after ``:after``
    in scope, in firm order, numbered by firm (``dense_rank``) and cut after ``:firms`` firms: PostgreSQL stops
    reading there (a window run condition), well before the limit. Built once per shape; every value is a
    parameter.

    ``lateral`` (PostgreSQL): the titles drive, in firm order off their ``enterprise_id`` index, and each title's
    firm is looked up by its primary key in a lateral subquery that the planner may not flatten (``OFFSET 0``)
    — a nested loop that starts fast wherever the page begins. Left to choose, PostgreSQL merged the two id
    indexes (reading every firm, titled or not, 2.5 for each titled one in the generated province) and, for
    the last pages of the table, where few rows remain after ``:after``, switched to hashing all of them: one
    page in twenty cost 50–90 ms. Otherwise (SQLite, which has no LATERAL) a plain join in the same order:
    a merge of the two id indexes that stops at the limit.
    """
    day = bindparam("day", type_=Date())
    after = bindparam("after", type_=BigInteger())
    scoped = [Enterprise.region_code.startswith(bindparam(f"prefix{i}", type_=String())) for i in range(prefixes)]
    title_columns = (Recognition.tier, Recognition.recognized_on, Recognition.valid_until, Recognition.document_no,
                     Recognition.batch, Recognition.ended_on, Recognition.end_reason, Recognition.granted_by_seq,
                     Recognition.ended_by_seq, Recognition.id.label("title_id"))
    if lateral:
        firm = (select(Enterprise.uscc, Enterprise.name, Enterprise.region_code)
                .where(Enterprise.id == Recognition.enterprise_id, repository.in_pool_on(day), *scoped)
                .offset(0).lateral("firm"))
        titles = (select(Recognition.enterprise_id.label("id"), firm.c.uscc, firm.c.name, firm.c.region_code,
                         *title_columns)
                  .select_from(Recognition).join(firm, true())
                  .where(Recognition.valid_on_clause(day), Recognition.enterprise_id > after)
                  .order_by(Recognition.enterprise_id, Recognition.id))
    else:
        titles = (select(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.region_code, *title_columns)
                  .join(Recognition, Recognition.enterprise_id == Enterprise.id)
                  .where(Recognition.valid_on_clause(day), Recognition.enterprise_id > after, Enterprise.id > after,
                         repository.in_pool_on(day), *scoped)
                  .order_by(Enterprise.id, Recognition.id))
    if by_tier:
        titles = titles.where(Recognition.tier == bindparam("tier", type_=String()))
    first = titles.limit(bindparam("rows", type_=Integer())).subquery()
    numbered = select(first, func.dense_rank().over(order_by=first.c.id).label("firm_number")).subquery()
    columns = [column for column in numbered.c if column.name not in ("title_id", "firm_number")]
    return (select(*columns).where(numbered.c.firm_number <= bindparam("firms", type_=Integer()))
            .order_by(numbered.c.id, numbered.c.title_id))


_COMPILED: dict[tuple[bool, int, str, str], tuple[str, dict[str, Any]]] = {}


def _compiled_page(by_tier: bool, prefixes: int, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The PostgreSQL page statement as the driver takes it (its text and the parameters fixed in it), compiled
    once per shape and driver — not per engine, whose dialects a cache keyed by them would keep alive."""
    key = (by_tier, prefixes, dialect.driver, dialect.paramstyle)
    found = _COMPILED.get(key)
    if found is None:
        compiled = _page_statement(by_tier, prefixes, lateral=True).compile(dialect=dialect)
        found = _COMPILED[key] = (str(compiled), dict(compiled.params))
    return found


def _firm_page(session: Session, entry: RosterEntry, as_of: dt.date, tier: str | None) -> list[RosterEntry]:
    """One firm with all its titles valid on ``as_of`` (a page of its own)."""
    query = (select(Recognition.tier, Recognition.recognized_on, Recognition.valid_until, Recognition.document_no,
                    Recognition.batch, Recognition.ended_on, Recognition.end_reason, Recognition.granted_by_seq,
                    Recognition.ended_by_seq)
             .where(Recognition.enterprise_id == entry.enterprise_id, Recognition.valid_on_clause(as_of))
             .order_by(Recognition.id))
    if tier is not None:
        query = query.where(Recognition.tier == tier)
    entry.titles = [PlainTitle(*title) for title in session.connection().execute(query)]
    return [entry]


def _roster_replayed(session: Session, actor: Actor, *, as_of: dt.date, tier: str | None, region: str | None,
                     known_at: dt.datetime, after_id: int, limit: int) -> tuple[list[RosterEntry], bool]:
    found: list[RosterEntry] = []
    while True:
        candidates = (select(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.region_code)
                      .join(Recognition, Recognition.enterprise_id == Enterprise.id)
                      .join(Event, and_(Event.uscc == Enterprise.uscc, Event.seq == Recognition.granted_by_seq))
                      .where(Enterprise.id > after_id, Recognition.recognized_on <= as_of,
                             Event.recorded_at <= known_at)
                      .group_by(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.region_code)
                      .order_by(Enterprise.id).limit(max(limit, 200)))
        if tier is not None:
            candidates = candidates.where(Recognition.tier == tier)
        batch = list(session.execute(in_jurisdiction(candidates, actor, region)))
        if not batch:
            return found, False
        by_uscc = events_by_uscc(session, [row.uscc for row in batch])
        for row in batch:
            firm = replay(by_uscc.get(row.uscc, []), as_of=as_of, known_at=known_at)
            in_pool = firm.state != "removed"  # a relocated firm keeps its titles but is in no region's roster
            held = [t for t in firm.titles_on(as_of) if in_pool and (tier is None or t.tier == tier)]
            if held:
                if len(found) == limit:
                    return found, True
                found.append(RosterEntry(row.id, row.uscc, row.name, row.region_code, held))
            after_id = row.id



@dataclass
class RegionCount:
    region_code: str
    level: str
    states: dict[str, int] = field(default_factory=dict)
    titles: dict[str, int] = field(default_factory=dict)
    side_titles: dict[str, int] = field(default_factory=dict)
    """Firms holding each side-title kind (单项冠军, 高新技术企业 …) on the date."""


def counts(session: Session, actor: Actor, *, as_of: dt.date, region: str | None = None) -> list[RegionCount]:
    """Per region at each level (province, city, district) within scope: firms per state on ``as_of`` and
    firms holding each title on ``as_of`` (as recorded now).

    A firm's state on a date is the ``to_state`` of its last event dated on or before it (a correction is
    dated like the event it voids and comes after it, so it wins). Firms with no later event than the date
    — nearly all, for a recent date — take their stored state without touching the events.
    """
    latest = (select(Event.to_state).where(Event.uscc == Enterprise.uscc, Event.effective_date <= as_of)
              .order_by(Event.seq.desc()).limit(1).correlate(Enterprise).scalar_subquery())
    state_on = case((Enterprise.last_effective_date <= as_of, Enterprise.state), else_=latest).label("state_on")
    per_firm = in_jurisdiction(select(Enterprise.region_code, state_on), actor, region).subquery()
    state_rows = session.execute(
        select(per_firm.c.region_code, per_firm.c.state_on, func.count())
        .where(per_firm.c.state_on.is_not(None))
        .group_by(per_firm.c.region_code, per_firm.c.state_on))
    title_rows = session.execute(in_jurisdiction(
        select(Enterprise.region_code, Recognition.tier, func.count(func.distinct(Recognition.enterprise_id)))
        .join(Enterprise, Enterprise.id == Recognition.enterprise_id)
        .where(Recognition.valid_on_clause(as_of), repository.in_pool_on(as_of))
        .group_by(Enterprise.region_code, Recognition.tier), actor, region))
    table: dict[tuple[str, str], RegionCount] = {}

    def add(code: str, kind: str, key: str, n: int) -> None:
        for level, width in LEVELS:
            rolled = code[:width].ljust(6, "0")
            entry = table.setdefault((level, rolled), RegionCount(rolled, level))
            bucket = {"state": entry.states, "title": entry.titles, "side": entry.side_titles}[kind]
            bucket[key] = bucket.get(key, 0) + n

    for row in state_rows:
        add(row[0], "state", row[1], int(row[2]))
    for row in title_rows:
        add(row[0], "title", row[1], int(row[2]))
    for code, side_kind, n in side_roster.counts_by_region(session, actor, as_of=as_of, region=region):
        add(code, "side", side_kind, n)
    order = {level: i for i, (level, _) in enumerate(LEVELS)}
    return sorted(table.values(), key=lambda c: (order[c.level], c.region_code))
