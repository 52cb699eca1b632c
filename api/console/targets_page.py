"""/console/targets — the year's targets against what the events count (the 通报 of
:func:`pipeline.targets.reports.progress_report`), per child region with completion rates, and the 通报 workbook
(:mod:`pipeline.targets.workbook`) to download under a Chinese file name. The dashboard shows the same report's
completion as an SVG drawn here on the server.

Officials, auditors and admins read it, each in their jurisdiction; other roles get a Chinese refusal page.
"""

from __future__ import annotations

import io
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from api import files
from api.console.exports_page import region_code
from api.console.pages import problem_of, render, signed_in
from api.console.session import ConsoleExit, ConsoleRoute
from api.deps import SessionDep
from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.errors import Forbidden, InvalidInput, PipelineError
from pipeline.identifiers import region_full_name
from pipeline.imports.exports import MEDIA_TYPES
from pipeline.targets import reports, workbook

router = APIRouter(route_class=ConsoleRoute)

READERS = ("official", "auditor", "admin")
KIND_LABELS = workbook.KIND_LABELS
TIER_LABELS = workbook.TIER_LABELS


def require_reader(actor: Actor, what: str) -> None:
    """The pages of targets, rounds and credit are the officials' and auditors' (banks use the API)."""
    if actor.role not in READERS:
        raise Forbidden(f"{what}仅供工信部门、审计和系统管理员查阅 — for officials and auditors only",
                        action="console")


def refused(request: Request, exc: PipelineError) -> ConsoleExit:
    problem = problem_of(exc)
    return ConsoleExit(render(request, "error.html", problem["status"], title=problem["title"],
                              message=problem["detail"]))


def own_region(actor: Actor, wanted: str) -> str:
    """The 6-digit division shown: the one asked for (2-, 4- or 6-digit prefix), else the actor's own."""
    code = region_code(wanted)
    if code is not None:
        return code
    if actor.region_code is None:
        raise InvalidInput("请选择区划（2位、4位或6位代码）", field="region")
    return actor.region_code


def completion_svg(sheet: dict[str, Any]) -> Markup:
    """Horizontal bars of the sheet's ranking completion (``new`` where set), one per child region, the 100 %
    line marked, with the rate at the end of each bar."""
    kind = sheet["rank_by"]
    rows = [r for r in sheet["rows"] if r["measures"].get(kind, {}).get("completion") is not None]
    if not rows:
        return Markup("")
    label_w, bar_w, row_h = 96, 220, 24
    top = max([1.0] + [float(r["measures"][kind]["completion"]) for r in rows])
    height = 26 + row_h * len(rows)
    full = label_w + bar_w / top
    parts = [f'<svg class="chart completion" viewBox="0 0 {label_w + bar_w + 56} {height}" role="img" '
             f'aria-label="{escape(sheet["label"])}{KIND_LABELS[kind]}完成率">',
             f'<line class="goal" x1="{full:.1f}" x2="{full:.1f}" y1="6" y2="{height}"/>'
             f'<text class="legend" x="{full:.1f}" y="12" text-anchor="middle">100%</text>']
    for n, row in enumerate(rows):
        y = 18 + n * row_h
        rate = float(row["measures"][kind]["completion"])
        width = bar_w * rate / top
        name = escape(_short(row["region_name"]))
        parts.append(f'<text class="area" x="{label_w - 6}" y="{y + 13}" text-anchor="end">{name}</text>'
                     f'<rect class="{"done" if rate >= 1 else "short"}" x="{label_w}" y="{y}" width="{width:.1f}" '
                     f'height="16"><title>{name} {rate:.1%}</title></rect>'
                     f'<text class="total" x="{label_w + width + 4:.1f}" y="{y + 13}">{rate:.1%}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 — every text node above is escaped


def _short(name: str) -> str:
    return name if len(name) <= 7 else name[:6] + "…"


def short_name(code: str, parent: str) -> str:
    """A child region as its officials say it within the parent's report (中原区, 郑州市)."""
    full = region_full_name(code) or code
    above = region_full_name(parent) or ""
    return full[len(above):] if above and full.startswith(above) and full != above else full


def progress_for(session: Session, actor: Actor, region: str, year: int) -> dict[str, Any]:
    """The 通报 as the page shows it: child regions by their short name, the total and quotas with the city."""
    report = reports.progress_report(session, actor, year=year, region=region)
    for row in report["quotas_and_applications"]:
        row["region_name"] = region_full_name(row["region_code"]) or row["region_name"]
    for sheet in report["sheets"]:
        for row in sheet["rows"]:
            row["region_name"] = short_name(row["region_code"], region)
        sheet["total"]["region_name"] = region_full_name(region) or sheet["total"]["region_name"]
        sheet["chart"] = completion_svg(sheet)
        sheet["total_completion"] = sheet["total"]["measures"].get(sheet["rank_by"], {}).get("completion")
    return report


@router.get("/targets")
def targets_page(request: Request, session: SessionDep, year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                 region: Annotated[str, Query(max_length=6)] = "") -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    year = year or business_today().year
    try:
        require_reader(current.actor, "目标与通报")
        code = own_region(current.actor, region)
        report = progress_for(session, current.actor, code, year)
    except PipelineError as exc:
        raise refused(request, exc) from None
    query = f"year={year}&region={code}"
    return render(request, "targets.html", report=report, year=year, region=code, kinds=KIND_LABELS,
                  tiers=TIER_LABELS, area=region_full_name(code) or code, query=query,
                  asked=region.strip())


@router.get("/targets.xlsx")
def targets_workbook(request: Request, session: SessionDep,
                     year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                     region: Annotated[str, Query(max_length=6)] = "") -> Response:
    """The 通报 workbook as the API writes it, named 通报-<地区>-<年度>.xlsx."""
    current = signed_in(request, session)
    assert current.actor is not None
    year = year or business_today().year
    try:
        require_reader(current.actor, "目标与通报")
        code = own_region(current.actor, region)
        report = reports.progress_report(session, current.actor, year=year, region=code)
    except PipelineError as exc:
        raise refused(request, exc) from None
    out = io.BytesIO()
    workbook.write_xlsx(report, out)
    name = f"通报-{region_full_name(code) or code}-{year}年.xlsx"
    return Response(out.getvalue(), media_type=MEDIA_TYPES["xlsx"],
                    headers=files.attachment(name, f"progress-{code}-{year}.xlsx"))
