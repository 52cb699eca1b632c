"""/console/audit — the auditor's event search with the filters of ``GET /api/v1/audit/events``, and its
CSV/Excel exports.

Both run :mod:`pipeline.history.search` exactly as the API route does (same filter, same jurisdiction, same
role rule). The exports are console routes because a browser link can send neither a bearer token nor an
``Accept`` header; they stream the very files the API streams for ``Accept: text/csv`` / the .xlsx type.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import files
from api.console import catalogue, views
from api.console.exports_page import region_code
from api.console.pages import actor_names, beijing, book_now, problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.deps import SessionDep
from api.routers.audit import CSV_MEDIA_TYPE, stream_events
from pipeline.access import Actor
from pipeline.dates import business_today, parse_date
from pipeline.errors import Forbidden, InvalidInput, PipelineError
from pipeline.history import search as audit_query
from pipeline.identifiers import region_full_name, validate_uscc
from pipeline.lifecycle.machine import TRIGGERS
from pipeline.models import Enterprise, Principal
from pipeline.spreadsheet import xlsx_text_cell

PAGE_SIZE = 50
ROLES = audit_query.SEARCH_ROLES
"""Who may search events — the API route's rule."""
KINDS = {"transition": "状态变更", "amendment": "信息变更", "correction": "更正"}

router = APIRouter(route_class=ConsoleRoute)

Text = Annotated[str, Query(max_length=64)]


def _filter(actor: Actor, values: dict[str, str]) -> audit_query.EventFilter:
    if actor.role not in ROLES:
        raise Forbidden(f"审计查询仅限{'/'.join(ROLES)} — audit events are for {', '.join(ROLES)}; "
                        f"you are {actor.role}", action="audit events")

    def day(name: str) -> dt.date | None:
        return parse_date(values[name], field=name) if values[name] else None

    def moment(name: str, end: bool) -> dt.datetime | None:
        date = day(name)
        if date is None:
            return None
        start = dt.datetime.combine(date + dt.timedelta(days=1) if end else date, dt.time(), dt.UTC)
        return start - dt.timedelta(microseconds=1) if end else start

    if values["kind"] and values["kind"] not in KINDS:
        raise InvalidInput(f"未知事件类型 — unknown kind {values['kind']!r}", field="kind")
    flt = audit_query.EventFilter(
        actor=values["actor"] or None, trigger=values["trigger"] or None, kind=values["kind"] or None,
        region=region_code(values["region"]), uscc=validate_uscc(values["uscc"]) if values["uscc"] else None,
        effective_from=day("effective_from"), effective_to=day("effective_to"),
        recorded_from=moment("recorded_from", end=False), recorded_to=moment("recorded_to", end=True),
        newest_first=values["order"] != "asc",
    )
    audit_query.events_query(actor, flt)  # validates the region, as the API does before streaming
    return flt


def _principals(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """Who may have recorded events here, by name: principals of the jurisdiction and those without a region."""
    query = select(Principal.id, Principal.name).order_by(Principal.name)
    if actor.region_prefix:
        query = query.where(Principal.region_code.is_(None) | Principal.region_code.startswith(actor.region_prefix)
                            | (Principal.role == "admin"))
    return [(str(pid), str(name)) for pid, name in session.execute(query)]


def _values(**given: str) -> dict[str, str]:
    return {name: value.strip() for name, value in given.items()}


@router.get("/audit")
def audit_search(
    request: Request, session: SessionDep, actor: Text = "", trigger: Text = "", kind: Text = "", region: Text = "",
    uscc: Text = "", effective_from: Text = "", effective_to: Text = "", recorded_from: Text = "",
    recorded_to: Text = "", order: Text = "desc", after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    values = _values(actor=actor, trigger=trigger, kind=kind, region=region, uscc=uscc, effective_from=effective_from,
                     effective_to=effective_to, recorded_from=recorded_from, recorded_to=recorded_to, order=order)
    query = urlencode({k: v for k, v in values.items() if v})
    rows: list[Any] = []
    more = False
    try:
        flt = _filter(current.actor, values)
        rows, more = audit_query.search(session, current.actor, flt, after_id=after, limit=PAGE_SIZE)
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "audit.html", problem["status"], values=values, rows=[], problem=problem, query=query,
                      next_page=None, triggers=TRIGGERS, kinds=KINDS, names={},
                      principals=_principals(session, current.actor))
    next_page = f"?{query}&after={rows[-1].id}" if more and rows else None
    names = {uscc: name for uscc, name in session.execute(select(Enterprise.uscc, Enterprise.name).where(
        Enterprise.uscc.in_({e.uscc for e in rows})))} if rows else {}
    return render(request, "audit.html", values=values, rows=rows, problem=None, query=query, next_page=next_page,
                  triggers=TRIGGERS, kinds=KINDS, names=names, principals=_principals(session, current.actor))


@router.get("/audit/export.{fmt}")
def audit_export(
    request: Request, session: SessionDep, fmt: str, actor: Text = "", trigger: Text = "", kind: Text = "",
    region: Text = "", uscc: Text = "", effective_from: Text = "", effective_to: Text = "", recorded_from: Text = "",
    recorded_to: Text = "", order: Text = "desc",
) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    values = _values(actor=actor, trigger=trigger, kind=kind, region=region, uscc=uscc, effective_from=effective_from,
                     effective_to=effective_to, recorded_from=recorded_from, recorded_to=recorded_to, order=order)
    try:
        if fmt not in ("csv", "xlsx"):
            raise InvalidInput(f"导出格式应为 csv 或 xlsx — format {fmt!r} is not csv or xlsx", field="format")
        flt = _filter(current.actor, values)
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "error.html", problem["status"], title=problem["title"], message=problem["detail"])
    streamed = stream_events(request.app.state.session_factory, current.actor, flt,
                       CSV_MEDIA_TYPE if fmt == "csv" else audit_query.XLSX_MEDIA_TYPE)
    assert streamed is not None
    name = f"审计事件（含哈希，可复算）-{business_today().isoformat()}.{fmt}"
    streamed.headers.update(files.attachment(name, f"events.{fmt}"))
    return streamed


READABLE_HEADERS = ("统一社会信用代码", "企业名称", "区划代码", "区划名称", "序号", "生效日期", "操作", "原状态",
                    "新状态", "原因", "理由", "文号", "批次", "操作人", "经办人", "记录时间（北京时间）", "哈希")


@router.get("/audit/readable.xlsx")
def audit_readable(
    request: Request, session: SessionDep, actor: Text = "", trigger: Text = "", kind: Text = "",
    region: Text = "", uscc: Text = "", effective_from: Text = "", effective_to: Text = "", recorded_from: Text = "",
    recorded_to: Text = "", order: Text = "desc",
) -> Response:
    """The matching events as an official reads them: Chinese values, names, 北京时间 and real date cells (the
    CSV/Excel beside it keep the hashed fields as stored, for recomputing the chain)."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # openpyxl only when writing xlsx

    current = signed_in(request, session)
    assert current.actor is not None
    values = _values(actor=actor, trigger=trigger, kind=kind, region=region, uscc=uscc, effective_from=effective_from,
                     effective_to=effective_to, recorded_from=recorded_from, recorded_to=recorded_to, order=order)
    try:
        flt = _filter(current.actor, values)
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "error.html", problem["status"], title=problem["title"], message=problem["detail"])
    book = book_now()
    names = actor_names(request)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="审计事件")
    sheet.append(list(READABLE_HEADERS))
    firms: dict[int, tuple[str, str]] = {}
    for event in session.scalars(audit_query.events_query(current.actor, flt)):
        if event.enterprise_id not in firms:
            firm = session.get(Enterprise, event.enterprise_id)
            firms[event.enterprise_id] = (firm.name, firm.region_code) if firm is not None else ("", "")
        firm_name, code = firms[event.enterprise_id]
        evidence = event.evidence or {}
        reason_label = (book.reasons_for(event.trigger or "").get(event.reason_code or "")
                        or catalogue.zh(event.reason_code)) if event.reason_code else ""
        row = (event.uscc, firm_name, code, region_full_name(code) or "", event.seq, event.effective_date,
               "更正" if event.kind == "correction" else (views.trigger_label(book, event.trigger) if event.trigger
                                                          else "信息变更"),
               book.label(event.from_state) if event.from_state else "", book.label(event.to_state) if event.to_state
               else "", reason_label, catalogue.plain(event.reason), str(evidence.get("document_no") or ""),
               str(evidence.get("batch") or ""), names(event.actor), str(evidence.get("user") or ""),
               beijing(event.recorded_at), event.hash)
        sheet.append([xlsx_text_cell(sheet, v) if isinstance(v, str) else v for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    name = f"审计事件-{business_today().isoformat()}.xlsx"
    return Response(buffer.getvalue(), media_type=audit_query.XLSX_MEDIA_TYPE,
                    headers=files.attachment(name, "events.xlsx"))
