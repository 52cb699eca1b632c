"""The firm page's own forms besides the transitions: edit the firm's details, record an annual filing, report
a major change, and void the latest event (更正) within the rulebook's correction window.

Each runs the service the API runs (``service.amend``, ``obligations.record_filing`` / ``report_change``,
``corrections.void``) in a savepoint: a refusal re-renders the form with what was typed and the reason in
Chinese; success returns to the firm page at the recorded event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.console.pages import book_now, check_csrf, firm_of, problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.deps import SessionDep
from pipeline.access import Actor, permission_refusal
from pipeline.dates import business_today, parse_date, utc_now
from pipeline.dynamic import obligations
from pipeline.errors import InvalidInput, PipelineError
from pipeline.firms import service
from pipeline.history import corrections
from pipeline.history.replay import CORRECTION_KIND, voided_seqs
from pipeline.models import Enterprise, Event
from pipeline.rulebooks import get_rulebook

router = APIRouter(route_class=ConsoleRoute)

Text = Annotated[str, Form(max_length=2000)]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"
    """text, date, number, textarea or select."""
    required: bool = False
    options: dict[str, str] = field(default_factory=dict)
    hint: str = ""


@dataclass(frozen=True)
class FormPage:
    title: str
    intro: str
    fields: list[Field]
    submit: str = "提交"
    danger: bool = False


def correctable_event(firm: Enterprise, events: list[Event], actor: Actor) -> Event | None:
    """The latest event if this actor may void it now (the rule ``corrections.void`` enforces), else ``None``."""
    if not events:
        return None
    latest = max(events, key=lambda e: e.seq)
    if latest.kind == CORRECTION_KIND or latest.seq in voided_seqs(events):
        return None
    if latest.trigger == "enroll" and latest.from_state is None:
        return None
    book = get_rulebook(latest.rulebook_id)
    action = latest.trigger or ("amend" if latest.kind == "amendment" else "correct")
    if permission_refusal(book, actor, "correct") or permission_refusal(book, actor, action):
        return None
    recorded = latest.recorded_at if latest.recorded_at.tzinfo else latest.recorded_at.replace(tzinfo=dt.UTC)
    if utc_now() - recorded > dt.timedelta(days=book.correction_window_days):
        return None
    return latest


def _page(request: Request, firm: Enterprise, form: FormPage, action: str, values: dict[str, str],
          problem: dict[str, Any] | None = None, status: int = 200) -> Response:
    return render(request, "firm_form.html", status, firm=firm, form=form, action=action, values=values,
                  problem=problem)


def _done(uscc: str, seq: int | None) -> Response:
    anchor = f"?event={seq}#event-{seq}" if seq else ""
    return RedirectResponse(f"/console/enterprises/{uscc}{anchor}", status_code=303)


def _date(text: str, name: str, label: str) -> dt.date:
    if not text.strip():
        raise InvalidInput(f"请填写{label}", field=name)
    return parse_date(text.strip(), field=name)


# 编辑企业信息 -------------------------------------------------------------------------------------------

EDIT = FormPage("编辑企业信息", "修改将记为“信息变更”事件，写入企业的审计链。", [
    Field("name", "企业名称", required=True), Field("region_code", "区划代码（6位）", required=True),
    Field("reason", "修改理由", "textarea"),
], submit="保存修改")


@router.get("/enterprises/{uscc}/edit")
def edit_page(request: Request, session: SessionDep, uscc: str) -> Response:
    current = signed_in(request, session)
    firm = firm_of(request, session, uscc, current)
    return _page(request, firm, EDIT, f"/console/enterprises/{firm.uscc}/edit",
                 {"name": firm.name, "region_code": firm.region_code, "reason": "", "version": str(firm.version)})


@router.post("/enterprises/{uscc}/edit")
def edit_submit(request: Request, session: SessionDep, uscc: str, csrf_token: Text = "", name: Text = "",
                region_code: Text = "", reason: Text = "", version: Text = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    firm = firm_of(request, session, uscc, current)
    values = {"name": name, "region_code": region_code, "reason": reason, "version": version}
    changes = {k: v.strip() for k, v in (("name", name), ("region_code", region_code))
               if v.strip() and v.strip() != getattr(firm, k)}
    try:
        with session.begin_nested():
            outcome = service.amend(session, firm.uscc, changes=changes, actor=current.actor,
                                    reason=reason.strip() or None,
                                    expected_version=int(version) if version.isdigit() else None,
                                    request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _page(request, firm, EDIT, request.url.path, values, problem, problem["status"])
    return _done(outcome.enterprise.uscc, outcome.event.seq)


# 年度数据报送 -------------------------------------------------------------------------------------------

def _filing_form() -> FormPage:
    today = business_today()
    return FormPage("年度数据报送", "记录企业报送某一年度数据的日期；逾期报送的企业将被标记“年度数据逾期未报”。", [
        Field("year", "数据年度", "number", required=True, hint=f"如 {today.year - 1}"),
        Field("filed_on", "报送日期", "date", required=True),
    ], submit="记录报送")


@router.get("/enterprises/{uscc}/filings")
def filing_page(request: Request, session: SessionDep, uscc: str) -> Response:
    current = signed_in(request, session)
    firm = firm_of(request, session, uscc, current)
    today = business_today()
    return _page(request, firm, _filing_form(), f"/console/enterprises/{firm.uscc}/filings",
                 {"year": str(today.year - 1), "filed_on": today.isoformat()})


@router.post("/enterprises/{uscc}/filings")
def filing_submit(request: Request, session: SessionDep, uscc: str, csrf_token: Text = "", year: Text = "",
                  filed_on: Text = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    firm = firm_of(request, session, uscc, current)
    values = {"year": year, "filed_on": filed_on}
    try:
        with session.begin_nested():
            if not year.strip().isdigit():
                raise InvalidInput("请填写数据年度（四位数字）", field="year")
            outcome = obligations.record_filing(session, firm.uscc, year=int(year), actor=current.actor,
                                                filed_on=_date(filed_on, "filed_on", "报送日期"),
                                                request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _page(request, firm, _filing_form(), request.url.path, values, problem, problem["status"])
    return _done(firm.uscc, outcome.event.seq if outcome.event else None)


# 重大变化报告 -------------------------------------------------------------------------------------------

def _change_form() -> FormPage:
    kinds = dict(obligations.change_kinds(book_now()))
    intro = "更名、合并、重组、迁出本省、设立境外分支机构等须在规定期限内报告；逾期报告将被标记。"
    return FormPage("重大变化报告", intro, [
        Field("kind", "变化类型", "select", required=True, options=kinds),
        Field("occurred_on", "发生日期", "date", required=True),
        Field("detail", "变化说明", "textarea", required=True),
        Field("document_no", "文号"),
    ], submit="提交报告")


@router.get("/enterprises/{uscc}/changes")
def change_page(request: Request, session: SessionDep, uscc: str) -> Response:
    current = signed_in(request, session)
    firm = firm_of(request, session, uscc, current)
    return _page(request, firm, _change_form(), f"/console/enterprises/{firm.uscc}/changes",
                 {"occurred_on": business_today().isoformat()})


@router.post("/enterprises/{uscc}/changes")
def change_submit(request: Request, session: SessionDep, uscc: str, csrf_token: Text = "", kind: Text = "",
                  occurred_on: Text = "", detail: Text = "", document_no: Text = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    firm = firm_of(request, session, uscc, current)
    values = {"kind": kind, "occurred_on": occurred_on, "detail": detail, "document_no": document_no}
    try:
        with session.begin_nested():
            outcome = obligations.report_change(
                session, firm.uscc, kind=kind, occurred_on=_date(occurred_on, "occurred_on", "发生日期"),
                detail=detail.strip(), actor=current.actor, document_no=document_no.strip() or None,
                request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _page(request, firm, _change_form(), request.url.path, values, problem, problem["status"])
    return _done(firm.uscc, outcome.event.seq)


# 更正（作废最近一次事件） ------------------------------------------------------------------------------

def _correct_form(seq: int) -> FormPage:
    return FormPage(f"更正：作废事件 #{seq}", "被作废的事件仍保留在审计链中并以删除线显示；企业恢复到该事件之前的状态。"
                    "只能作废最近一次事件，且须在规定的更正期限内。", [
                        Field("reason", "更正理由", "textarea", required=True)], submit="确认作废", danger=True)


@router.get("/enterprises/{uscc}/events/{seq}/correct")
def correct_page(request: Request, session: SessionDep, uscc: str, seq: int) -> Response:
    current = signed_in(request, session)
    firm = firm_of(request, session, uscc, current)
    return _page(request, firm, _correct_form(seq), f"/console/enterprises/{firm.uscc}/events/{seq}/correct", {})


@router.post("/enterprises/{uscc}/events/{seq}/correct")
def correct_submit(request: Request, session: SessionDep, uscc: str, seq: int, csrf_token: Text = "",
                   reason: Text = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    firm = firm_of(request, session, uscc, current)
    try:
        with session.begin_nested():
            outcome = corrections.void(session, firm.uscc, seq, actor=current.actor, reason=reason,
                                       request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _page(request, firm, _correct_form(seq), request.url.path, {"reason": reason}, problem,
                     problem["status"])
    return _done(firm.uscc, outcome.event.seq)

