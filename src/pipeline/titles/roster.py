"""Side titles in the roster, the exported roster and the counts: who holds a kind on a date.

``tier=<side-title kind>`` (``champion_enterprise`` …) in the roster and ``/exports/roster`` lists the firms
holding that kind on ``as_of``; the counts add ``side_titles: {kind: firms}`` to every region row. Each
side title comes back as a :class:`pipeline.lifecycle.guards.PlainTitle` (``tier`` = its kind,
``recognized_on`` = its grant date), so the roster's pages and columns stay one shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from pipeline.access import Actor, in_jurisdiction
from pipeline.db import stream_rows
from pipeline.firms.repository import in_pool_on
from pipeline.history.replay import events_by_uscc, replay
from pipeline.lifecycle.guards import PlainTitle
from pipeline.models import Enterprise, Event, SideTitle
from pipeline.rulebooks import all_rulebooks
from pipeline.titles.replay import replay_side_titles


def is_side_title_kind(kind: str | None) -> bool:
    """Whether ``kind`` is a side-title kind of any shipped rulebook (so ``tier=`` means a side title)."""
    return kind is not None and any(kind in book.side_titles for book in all_rulebooks())


def side_title_kinds() -> tuple[str, ...]:
    kinds: dict[str, None] = {}
    for book in all_rulebooks():
        kinds.update(dict.fromkeys(book.side_titles))
    return tuple(kinds)


def _as_title(kind: str, granted_on: dt.date, valid_until: dt.date, document_no: str | None) -> PlainTitle:
    return PlainTitle(kind, granted_on, valid_until, document_no=document_no)


def holders(session: Session, actor: Actor, *, kind: str, as_of: dt.date, region: str | None,
            known_at: dt.datetime | None, after_id: int, limit: int,
            ) -> tuple[list[tuple[Any, list[PlainTitle]]], bool]:
    """Firms (id, uscc, name, region_code) holding ``kind`` on ``as_of`` after ``after_id``, with those titles;
    and whether more follow. With a past ``known_at`` the firms' side titles are replayed from the events
    recorded by then."""
    found: list[tuple[Any, list[PlainTitle]]] = []
    while True:
        query = (select(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.region_code)
                 .join(SideTitle, SideTitle.enterprise_id == Enterprise.id)
                 .where(SideTitle.kind == kind, Enterprise.id > after_id)
                 .group_by(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.region_code)
                 .order_by(Enterprise.id).limit(max(limit + 1, 200)))
        if known_at is None:
            query = query.where(SideTitle.valid_on_clause(as_of), in_pool_on(as_of))
        else:
            query = query.join(Event, and_(Event.uscc == Enterprise.uscc, Event.seq == SideTitle.granted_by_seq)
                               ).where(SideTitle.granted_on <= as_of, Event.recorded_at <= known_at)
        batch = list(session.execute(in_jurisdiction(query, actor, region)))
        if not batch:
            return found, False
        titles = _titles_on(session, [row.id for row in batch], [row.uscc for row in batch], kind, as_of, known_at)
        for row in batch:
            held = titles.get(row.id, [])
            if held:
                if len(found) == limit:
                    return found, True
                found.append((row, held))
            after_id = row.id


def _titles_on(session: Session, ids: Sequence[int], usccs: Sequence[str], kind: str, as_of: dt.date,
               known_at: dt.datetime | None) -> dict[int, list[PlainTitle]]:
    by_firm: dict[int, list[PlainTitle]] = {}
    if known_at is None:
        for row in session.execute(select(SideTitle).where(SideTitle.enterprise_id.in_(ids), SideTitle.kind == kind,
                                                           SideTitle.valid_on_clause(as_of)).order_by(SideTitle.id)):
            title = row[0]
            by_firm.setdefault(title.enterprise_id, []).append(
                _as_title(title.kind, title.granted_on, title.valid_until, title.document_no))
        return by_firm
    events = events_by_uscc(session, usccs)
    for firm_id, uscc in zip(ids, usccs, strict=True):
        chain = events.get(uscc, [])
        if replay(chain, as_of=as_of, known_at=known_at).state == "removed":
            continue  # a relocated firm keeps its titles but is in no region's roster
        held = [t for t in replay_side_titles(chain, known_at=known_at) if t.kind == kind and t.valid_on(as_of)]
        if held:
            by_firm[firm_id] = [_as_title(t.kind, t.granted_on, t.valid_until, t.document_no) for t in held]
    return by_firm


def export_rows(session: Session, *, kind: str, as_of: dt.date, prefix: str | None,
                yield_per: int) -> Iterator[Any]:
    """The exported roster's rows for a side-title kind: (uscc, name, region_code, kind, granted_on,
    valid_until, document_no), by region and code."""
    query = (select(Enterprise.uscc, Enterprise.name, Enterprise.region_code, SideTitle.kind, SideTitle.granted_on,
                    SideTitle.valid_until, SideTitle.document_no)
             .join(Enterprise, Enterprise.id == SideTitle.enterprise_id)
             .where(SideTitle.kind == kind, SideTitle.valid_on_clause(as_of), in_pool_on(as_of))
             .order_by(Enterprise.region_code, Enterprise.uscc, SideTitle.id))
    if prefix:
        query = query.where(Enterprise.region_code.startswith(prefix))
    yield from stream_rows(session, query, yield_per)


def counts_by_region(session: Session, actor: Actor, *, as_of: dt.date, region: str | None,
                     ) -> Iterator[tuple[str, str, int]]:
    """(region_code, kind, firms holding it on ``as_of``) within the actor's jurisdiction."""
    query = (select(Enterprise.region_code, SideTitle.kind, func.count(func.distinct(SideTitle.enterprise_id)))
             .join(Enterprise, Enterprise.id == SideTitle.enterprise_id)
             .where(SideTitle.valid_on_clause(as_of), in_pool_on(as_of))
             .group_by(Enterprise.region_code, SideTitle.kind))
    for code, kind, n in session.execute(in_jurisdiction(query, actor, region)):
        yield str(code), str(kind), int(n)


def kinds_held(session: Session, day: dt.date, *, firm_id: int | None = None, state: str | None = None,
               actor: Actor | None = None, region: str | None = None) -> dict[int, list[str]]:
    """firm id → the side-title kinds it validly holds on ``day`` (one firm, or the firms in ``state`` within
    the actor's jurisdiction): what the eligibility screening reads as ``holds_side_title:<kind>``."""
    query = (select(SideTitle.enterprise_id, SideTitle.kind).join(Enterprise, Enterprise.id == SideTitle.enterprise_id)
             .where(SideTitle.valid_on_clause(day)).distinct())
    if firm_id is not None:
        query = query.where(SideTitle.enterprise_id == firm_id)
    if state is not None:
        query = query.where(Enterprise.state == state)
    if actor is not None:
        query = in_jurisdiction(query, actor, region)
    held: dict[int, list[str]] = {}
    for enterprise_id, kind in session.execute(query):
        held.setdefault(enterprise_id, []).append(kind)
    return held
