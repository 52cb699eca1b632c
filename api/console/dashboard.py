"""/console/dashboard — the city's (or province's) view: firms per 区县 (or 市) and tier with drill-down, a bar
chart by district and the trend of recognitions by year and batch. Charts are SVG drawn here on the server:
nothing is fetched from anywhere, and the labels are the system's own Chinese fonts."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.console.exports_page import region_code
from api.console.pages import book_now, problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.console.targets_page import READERS, progress_for
from api.deps import SessionDep
from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.errors import InvalidInput, PipelineError
from pipeline.identifiers import region_full_name, region_name, region_prefix
from pipeline.lifecycle.machine import STATES
from pipeline.models import Enterprise, Recognition
from pipeline.rulebooks import TITLE_TIERS, Rulebook

router = APIRouter(route_class=ConsoleRoute)

COLUMNS: tuple[str, ...] = tuple(STATES[1:])
"""reserve … national, revoked, removed: the table's tier columns."""
CHART_TIERS: tuple[str, ...] = ("reserve", *TITLE_TIERS)


@dataclass
class AreaRow:
    code: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def in_ladder(self) -> int:
        return sum(self.counts.get(s, 0) for s in CHART_TIERS)


def _group_of(code: str, prefix: str) -> str:
    """The row a firm's division counts in: a province's cities, a city's districts."""
    if len(prefix) == 2:
        return code[:4] + "00"
    return code


def _scope(actor: Actor, wanted: str | None) -> str:
    """The 2- or 4-digit prefix shown: the actor's jurisdiction, or a part of it chosen by drill-down."""
    own = actor.region_prefix or ""
    if wanted is None:
        return own
    prefix = region_prefix(wanted)
    if own and not prefix.startswith(own):
        raise InvalidInput("所选区划不在您的辖区内", field="region")
    return prefix


def area_table(session: Session, prefix: str) -> list[AreaRow]:
    query = select(Enterprise.region_code, Enterprise.state, func.count()).group_by(Enterprise.region_code,
                                                                                     Enterprise.state)
    if prefix:
        query = query.where(Enterprise.region_code.startswith(prefix))
    rows: dict[str, AreaRow] = {}
    for code, state, count in session.execute(query):
        key = _group_of(code, prefix) if prefix else code[:2] + "0000"
        row = rows.setdefault(key, AreaRow(key, _short_name(key, prefix)))
        row.counts[state] = row.counts.get(state, 0) + int(count)
    return sorted(rows.values(), key=lambda r: r.code)


def _short_name(code: str, prefix: str) -> str:
    """A district's name without its province and city (上街区), a city's without its province (郑州市)."""
    if prefix and code == prefix.ljust(6, "0"):
        return "市本级" if len(prefix) == 4 else "省本级"
    full = region_full_name(code) or region_name(code) or code
    parent = region_full_name(prefix.ljust(6, "0")) if prefix else ""
    return full[len(parent):] if parent and full.startswith(parent) and full != parent else full


@dataclass(frozen=True)
class Trend:
    years: list[int]
    by_year: dict[int, dict[str, int]]
    batches: list[tuple[str, dict[str, int]]]


def recognition_trend(session: Session, prefix: str) -> Trend:
    """Recognitions (every title ever granted, ended or not) per year and tier, and per recorded batch."""
    query = (select(Recognition.tier, Recognition.recognized_on, Recognition.batch, func.count())
             .join(Enterprise, Enterprise.id == Recognition.enterprise_id)
             .group_by(Recognition.tier, Recognition.recognized_on, Recognition.batch))
    if prefix:
        query = query.where(Enterprise.region_code.startswith(prefix))
    by_year: dict[int, dict[str, int]] = defaultdict(dict)
    by_batch: dict[str, dict[str, int]] = defaultdict(dict)
    for tier, day, batch, count in session.execute(query):
        year = day.year if isinstance(day, dt.date) else int(str(day)[:4])
        by_year[year][tier] = by_year[year].get(tier, 0) + int(count)
        if batch:
            by_batch[batch][tier] = by_batch[batch].get(tier, 0) + int(count)
    years = list(range(min(by_year), max(by_year) + 1)) if by_year else []
    return Trend(years, {y: by_year.get(y, {}) for y in years}, sorted(by_batch.items(), reverse=True)[:20])


def bars_svg(rows: list[AreaRow], book: Rulebook) -> Markup:
    """Stacked horizontal bars, one per area, ladder tiers in their colours, with the total at the end."""
    if not rows:
        return Markup("")
    label_w, bar_w, row_h = 110, 230, 26
    largest = max([r.in_ladder for r in rows] + [1])
    height = 30 + row_h * len(rows)
    parts = [f'<svg class="chart bars" viewBox="0 0 {label_w + bar_w + 50} {height}" role="img" '
             f'aria-label="各区划企业数">']
    for i, tier in enumerate(CHART_TIERS):  # the legend
        parts.append(f'<rect class="tier-{tier}" x="{label_w + i * 60}" y="4" width="10" height="10"/>'
                     f'<text class="legend" x="{label_w + 14 + i * 60}" y="13">{escape(_short(book, tier))}</text>')
    for n, row in enumerate(rows):
        y = 28 + n * row_h
        parts.append(f'<text class="area" x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(row.name)}</text>')
        x = float(label_w)
        for tier in CHART_TIERS:
            count = row.counts.get(tier, 0)
            if count:
                width = bar_w * count / largest
                parts.append(f'<rect class="tier-{tier}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="18">'
                             f'<title>{escape(row.name)} {escape(book.label(tier))} {count}</title></rect>')
                x += width
        parts.append(f'<text class="total" x="{x + 4:.1f}" y="{y + 14}">{row.in_ladder}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 — every text node above is escaped


def trend_svg(trend: Trend, book: Rulebook) -> Markup:
    """Columns per year, one per tier (创新型, 省级, 小巨人), with the counts on top."""
    if not trend.years:
        return Markup("")
    col, gap, chart_h = 14, 14, 140
    tiers = TITLE_TIERS
    group_w = col * len(tiers) + gap
    width = 40 + group_w * len(trend.years)
    largest = max([c for counts in trend.by_year.values() for c in counts.values()] + [1])
    parts = [f'<svg class="chart trend" viewBox="0 0 {max(width, 340)} {chart_h + 60}" role="img" '
             f'aria-label="历年认定数量">']
    for i, tier in enumerate(tiers):
        parts.append(f'<rect class="tier-{tier}" x="{40 + i * 90}" y="4" width="10" height="10"/>'
                     f'<text class="legend" x="{54 + i * 90}" y="13">{escape(_short(book, tier))}</text>')
    base = chart_h + 30
    for n, year in enumerate(trend.years):
        x0 = 40 + n * group_w
        for i, tier in enumerate(tiers):
            count = trend.by_year[year].get(tier, 0)
            h = chart_h * count / largest
            x = x0 + i * col
            parts.append(f'<rect class="tier-{tier}" x="{x}" y="{base - h:.1f}" width="{col - 2}" height="{h:.1f}">'
                         f'<title>{year}年 {escape(book.label(tier))} {count}</title></rect>')
            if count:
                parts.append(f'<text class="value" x="{x + (col - 2) / 2}" y="{base - h - 3:.1f}" '
                             f'text-anchor="middle">{count}</text>')
        parts.append(f'<text class="year" x="{x0 + col * len(tiers) / 2}" y="{base + 16}" '
                     f'text-anchor="middle">{year}</text>')
    parts.append(f'<line class="axis" x1="36" x2="{width}" y1="{base}" y2="{base}"/></svg>')
    return Markup("".join(parts))  # noqa: S704 — every text node above is escaped


def _short(book: Rulebook, tier: str) -> str:
    return {"reserve": "后备", "innovative": "创新型", "provincial": "省级", "national": "小巨人"}.get(
        tier, book.label(tier))


@router.get("/dashboard")
def dashboard_page(request: Request, session: SessionDep,
                   region: Annotated[str, Query(max_length=6)] = "") -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    book = book_now()
    try:
        prefix = _scope(current.actor, region_code(region))
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "error.html", problem["status"], title=problem["title"], message=problem["detail"])
    rows = area_table(session, prefix)
    totals = {s: sum(r.counts.get(s, 0) for r in rows) for s in COLUMNS}
    trend = recognition_trend(session, prefix)
    parent = prefix[:-2] if len(prefix) > (len(current.actor.region_prefix or "")) else None
    year = business_today().year
    targets = None
    if prefix and current.actor.role in READERS:  # targets vs actual: the 通报's completion per child region
        targets = progress_for(session, current.actor, prefix.ljust(6, "0"), year)
    return render(request, "dashboard.html", targets=targets, year=year, rows=rows, totals=totals, columns=COLUMNS,
                  prefix=prefix,
                  area=region_full_name(prefix.ljust(6, "0")) if prefix else "全国", bars=bars_svg(rows, book),
                  trend=trend, trend_chart=trend_svg(trend, book), parent=parent, drill=len(prefix) < 6)
