"""The eligibility warning a recognition records when our data does not support it (SPEC §6).

A recognition is the recognising body's decision and is always recorded; where the firm's latest
indicators (of a year before the decision's) fail the criteria of the rulebook in force on the decision
date, or are missing, the event's evidence says so under ``eligibility_warning``. Every door that records a
recognition — the API, ``pipeline batch``, imports — records the same warning.
认定时的资格提示：数据不支持认定时，事件证据中记录 eligibility_warning。
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import BigInteger, ColumnElement, Row, select
from sqlalchemy.orm import Session

from pipeline.db import driver_rows, member_of
from pipeline.eligibility.engine import ASSESSMENT_LAG, CriteriaError, criteria_for
from pipeline.errors import PipelineError
from pipeline.json_numbers import stored_value
from pipeline.lifecycle.guards import TitleLike
from pipeline.lifecycle.machine import RECOGNITION_TIER
from pipeline.models import AnnualFiling, SideTitle
from pipeline.rulebooks import Rulebook

NO_DATA = "no annual data"


class ScreenedFirm(Protocol):
    region_code: str

    @property
    def recognitions(self) -> list[Any]: ...


def holds(titles: Sequence[TitleLike], tier: str, day: dt.date) -> bool:
    return any(t.tier == tier and t.valid_on(day) for t in titles)


def latest_indicators(session: Session, firm_id: int, *where: ColumnElement[bool]) -> Row[Any] | None:
    """(year, indicators) of the firm's newest data year with indicators that meets ``where``."""
    return session.execute(
        select(AnnualFiling.year, AnnualFiling.indicators)
        .where(AnnualFiling.enterprise_id == firm_id, AnnualFiling.indicators.is_not(None), *where)
        .order_by(AnnualFiling.year.desc()).limit(1)).first()


def indicator_years(session: Session, firm_ids: Iterable[int]) -> dict[int, list[tuple[int, Any]]]:
    """Every firm's ``(year, indicators)``, newest first — one query for a batch (imports; on SQLite one per
    1,000 firms)."""
    found: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    ids = list(firm_ids)
    if not ids:
        return found
    if session.get_bind().dialect.name == "postgresql":
        for firm_id, year, indicators in driver_rows(session, _INDICATOR_YEARS, (ids,)):
            found[firm_id].append((year, stored_value(indicators)))  # as the column's type reads it back
        return found
    for start in range(0, len(ids), 1000):
        for firm_id, year, indicators in session.execute(
            select(AnnualFiling.enterprise_id, AnnualFiling.year, AnnualFiling.indicators)
            .where(member_of(AnnualFiling.enterprise_id, ids[start:start + 1000], BigInteger(), postgres=False),
                   AnnualFiling.indicators.is_not(None))
            .order_by(AnnualFiling.enterprise_id, AnnualFiling.year.desc())):
            found[firm_id].append((year, indicators))
    return found


# The two batch reads on PostgreSQL, written out and sent on the driver's cursor, as the importer's firm loads
# are (pipeline.imports.bulk): they run on the import's writer thread, beside the thread computing a chunk, and
# built, compiled and their rows wrapped by SQLAlchemy they took 4.4 ms of the interpreter per chunk of 2,000
# firms, 1.1 ms this way. The Core statements' SQL, the id list as one array (= ANY, as member_of sends it).
_INDICATOR_YEARS = (
    "SELECT enterprise_id, year, indicators FROM annual_filings "
    "WHERE enterprise_id = ANY(%b::bigint[]) AND indicators IS NOT NULL ORDER BY enterprise_id, year DESC")
_SIDE_TITLE_SPANS = (
    "SELECT enterprise_id, kind, granted_on, valid_until, ended_on FROM side_titles "
    "WHERE enterprise_id = ANY(%b::bigint[])")


SideSpan = tuple[str, dt.date, dt.date, dt.date | None]
"""A side title as screening needs it: ``(kind, granted_on, valid_until, ended_on)``."""


def side_kinds_on(spans: Iterable[SideSpan], day: dt.date) -> frozenset[str]:
    """The kinds of side title valid on ``day`` (:meth:`pipeline.models.SideTitle.valid_on`)."""
    return frozenset(kind for kind, granted_on, valid_until, ended_on in spans
                     if granted_on <= day <= valid_until and (ended_on is None or day < ended_on))


def side_title_spans(session: Session, firm_ids: Iterable[int]) -> dict[int, list[SideSpan]]:
    """Every firm's side titles — one query for a batch (imports; on SQLite one per 1,000 firms)."""
    found: dict[int, list[SideSpan]] = defaultdict(list)
    ids = list(firm_ids)
    if not ids:
        return found
    if session.get_bind().dialect.name == "postgresql":
        for firm_id, kind, granted_on, valid_until, ended_on in driver_rows(session, _SIDE_TITLE_SPANS, (ids,)):
            found[firm_id].append((kind, granted_on, valid_until, ended_on))
        return found
    for start in range(0, len(ids), 1000):
        for firm_id, kind, granted_on, valid_until, ended_on in session.execute(
                select(SideTitle.enterprise_id, SideTitle.kind, SideTitle.granted_on, SideTitle.valid_until,
                       SideTitle.ended_on)
                .where(member_of(SideTitle.enterprise_id, ids[start:start + 1000], BigInteger(), postgres=False))):
            found[firm_id].append((kind, granted_on, valid_until, ended_on))
    return found


def warning_for(firm: ScreenedFirm, trigger: str, day: dt.date, rulebook: Rulebook,
                latest: tuple[int, Any] | None, side_titles: Collection[str] = ()) -> dict[str, Any]:
    """``{"eligibility_warning": …}`` for a recognition that ``latest`` (the firm's newest ``(year,
    indicators)`` before the decision's year) does not support, else ``{}``. ``side_titles`` are the kinds
    of side title the firm holds on ``day`` (a 高新技术企业 title is a route of its own). Never raises."""
    tier = RECOGNITION_TIER[trigger]
    warning: dict[str, Any] = {"rulebook_id": rulebook.id, "tier": tier}
    if latest is None or not isinstance(latest[1], dict):
        if not side_titles:
            return {"eligibility_warning": {**warning, "year": None, "passed": None, "missing": NO_DATA}}
        latest = (day.year - ASSESSMENT_LAG, {})  # a side title may be a route of its own, no data needed
    year, values = latest
    titles = firm.recognitions
    try:
        result = criteria_for(rulebook, tier).evaluate(
            values, year=year + ASSESSMENT_LAG, re_review=False,
            holds_innovative=holds(titles, "innovative", day), holds_provincial=holds(titles, "provincial", day),
            region_code=firm.region_code, side_titles=side_titles)
    except (PipelineError, CriteriaError) as exc:
        detail = getattr(exc, "detail", str(exc))
        return {"eligibility_warning": {**warning, "year": None, "passed": None, "error": detail}}
    if result.passed is True:
        return {}
    if result.overlays:  # the local overlays scored, so the warning can be traced to their exact text
        warning["overlays"] = [ref._asdict() for ref in result.overlays]
    return {"eligibility_warning": {**warning, "year": year, "passed": result.passed,
                                    "unmet": [entry.code for entry in result.unmet],
                                    "missing": list(result.missing)}}


def latest_before(years: Sequence[tuple[int, Any]], day: dt.date) -> tuple[int, Any] | None:
    """From :func:`indicator_years`' list for one firm: the newest year before ``day``'s."""
    return next(((year, values) for year, values in years if year < day.year), None)
