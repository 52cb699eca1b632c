"""/console — the officials' and auditors' web pages, server-rendered, on the same domain functions as the API.

Each request is one transaction (``SessionDep``); a write runs in a savepoint so that a refusal leaves the
request's transaction clean and the page can show the refusal as the API's problem document would state it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.console import (
    audit_page,
    catalogue,
    credit_page,
    dashboard,
    exports_page,
    firm_forms,
    imports_page,
    ledgers,
    review_page,
    rounds_page,
    targets_page,
    views,
)
from api.console.diagram import machine_svg
from api.console.pages import (
    STATIC_DIR,
    book_now,
    check_csrf,
    firm_of,
    posted_fields,
    problem_of,
    render,
    safe_next,
    signed_in,
)
from api.console.session import ConsoleExit, ConsoleRoute, ConsoleSession, load_session
from api.deps import SessionDep
from api.routers import enterprises as enterprise_routes
from pipeline.access import Actor, permission_refusal
from pipeline.dates import business_today, parse_date
from pipeline.errors import InvalidInput, PipelineError
from pipeline.firms import repository, service
from pipeline.history.replay import voided_seqs
from pipeline.lifecycle import machine
from pipeline.models import Enterprise, SideTitle
from pipeline.principals import accounts
from pipeline.principals.service import authenticate
from pipeline.rulebooks import Rulebook

__all__ = ["STATIC_DIR", "install_error_pages", "router"]

PAGE_SIZE = 50

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
router.include_router(imports_page.router)
router.include_router(audit_page.router)
router.include_router(exports_page.router)
router.include_router(firm_forms.router)
router.include_router(dashboard.router)
router.include_router(review_page.router)
router.include_router(ledgers.router)
router.include_router(targets_page.router)
router.include_router(rounds_page.router)
router.include_router(credit_page.router)


@router.get("/login")
def login_page(request: Request, session: SessionDep, next: str | None = None, expired: str = "") -> Response:
    current = load_session(request, session)
    if current.actor is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), error=None, expired=expired == "1", resume=[])


RESUME_PREFIX = "resume."
"""Fields of a form typed before the session ended travel through the sign-in page under this prefix."""


@router.post("/login")
def login(
    request: Request, session: SessionDep, token: Annotated[str, Form(max_length=200)] = "",
    username: Annotated[str, Form(max_length=100)] = "", password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    resume = [(k[len(RESUME_PREFIX):], v) for k, v in posted_fields(request) if k.startswith(RESUME_PREFIX)][:40]
    return _login(request, session, csrf_token, username, password, token, safe_next(next), resume)


def _login(request: Request, session: Session, csrf_token: str, username: str, password: str, token: str,
           target: str, resume: list[tuple[str, str]]) -> Response:
    current = load_session(request, session)
    if not current.csrf_ok(csrf_token):
        return render(request, "login.html", 403, next=target, expired=False, resume=resume,
                      error="登录页面已过期，请重新输入后登录")
    user_id = None
    if username.strip():
        try:
            signed = accounts.sign_in(session, username, password)
        except PipelineError as exc:
            return render(request, "login.html", 401, next=target, expired=False, resume=resume,
                          error=catalogue.zh(exc.detail), username=username)
        principal_id, user_id = signed.principal.id, signed.user.id
    else:
        actor = authenticate(session, token.strip()) if token.strip() else None
        if actor is None:
            return render(request, "login.html", 401, next=target, expired=False, resume=resume,
                          error="令牌无效或已吊销，请向系统管理员确认")
        principal_id = actor.id
    current.sign_in(session, principal_id, user_id)
    if resume and target != "/console":
        return render(request, "resume.html", title="已重新登录", action=target, fields=resume,
                      message="您在会话过期前填写的内容已保留，请核对后重新提交。")
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    current = load_session(request, session)
    check_csrf(request, current, csrf_token)
    current.sign_out(session)
    return RedirectResponse("/console/login", status_code=303)


@router.get("")
def pipeline_page(request: Request, session: SessionDep) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    book, today = book_now(), business_today()
    ladder, outside = views.funnel(session, current.actor, book, today)
    groups = views.due_for_review(session, current.actor, today)
    due = sorted((item for g in groups for item in g.items), key=lambda i: (i.valid_until, i.uscc))
    tiers = {item.uscc: g.tier_label for g in groups for item in g.items}
    horizon = today + dt.timedelta(days=views.DUE_WINDOW_DAYS)
    return render(request, "pipeline.html", ladder=ladder, outside=outside, due=due[:10], due_total=len(due),
                  tiers=tiers, horizon=horizon, window=views.DUE_WINDOW_DAYS,
                  lapsed=len(views.lapsed_titles(session, current.actor, today)))


@router.get("/enterprises")
def enterprises_page(
    request: Request, session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "", state: Annotated[str, Query(max_length=16)] = "",
    region: Annotated[str, Query(max_length=6)] = "", expiring_before: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    filters = {"q": q.strip(), "state": state, "region": unicodedata.normalize("NFKC", region).strip(),
               "expiring_before": expiring_before.strip()}
    problem = None
    items: list[Any] = []
    next_cursor = None
    try:
        page = enterprise_routes.list_enterprises(
            session=session, actor=current.actor, state=state or None, region=filters["region"] or None,
            expiring_before=parse_date(filters["expiring_before"], field="expiring_before")
            if filters["expiring_before"] else None,
            q=filters["q"] or None, limit=PAGE_SIZE, cursor=cursor or None,
        )
        items, next_cursor = page.items, page.next_cursor
    except PipelineError as exc:
        problem = problem_of(exc)
    more = "?" + urlencode({**{k: v for k, v in filters.items() if v}, "cursor": next_cursor}) if next_cursor else None
    export_query = urlencode({k: v for k, v in filters.items() if k in ("state", "region") and v})
    roster_query = urlencode({"region": filters["region"]} if filters["region"] else {})
    return render(request, "enterprises.html", 422 if problem else 200, items=items, filters=filters,
                  problem=problem, more=more, states=machine.STATES[1:], export_query=export_query,
                  roster_query=roster_query)


@router.get("/enterprises/{uscc}")
def enterprise_page(request: Request, session: SessionDep, uscc: str, event: int | None = None) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    firm = firm_of(request, session, uscc, current)
    book, today = book_now(), business_today()
    events = repository.history(session, firm)
    options = service.trigger_options(firm, current.actor)
    never = {o.trigger for o in options if _never_permitted(book, current.actor, firm, o.trigger)}
    actor = current.actor
    can = {action: permission_refusal(book, actor, action) is None for action in ("amend",)}
    return render(
        request, "enterprise.html", firm=firm, options=[o for o in options if o.trigger not in never],
        read_only=actor.role == "auditor" or (all(o.trigger in never for o in options) and not can["amend"]),
        destructive=views.DESTRUCTIVE, can=can, correctable=firm_forms.correctable_event(firm, events, actor),
        timeline=views.timeline(book, list(firm.recognitions), today), events=list(reversed(events)),
        chain=views.verify_chain(firm, events), evidence_items=lambda e: views.evidence_items(book, e),
        recorded=event, titles=sorted(firm.recognitions, key=lambda t: (t.recognized_on, t.id)),
        voided=voided_seqs(events), lapsed=views.state_lapsed(firm, today),
        side_titles=list(session.scalars(select(SideTitle).where(SideTitle.enterprise_id == firm.id)
                                         .order_by(SideTitle.granted_on, SideTitle.id))),
        title_status=lambda t: views.title_status(t, today),
        credit=credit_page.firm_credit(session, actor, firm),
    )


@router.get("/enterprises/{uscc}/history")
def history_page(request: Request, session: SessionDep, uscc: str) -> Response:
    current = signed_in(request, session)
    firm = firm_of(request, session, uscc, current)
    book = book_now()
    events = repository.history(session, firm)
    return render(request, "history.html", firm=firm, events=events, chain=views.verify_chain(firm, events),
                  evidence_items=lambda e: views.evidence_items(book, e), voided=voided_seqs(events))


def _never_permitted(book: Rulebook, actor: Actor, firm: Enterprise, trigger: str) -> bool:
    """This role may never fire ``trigger`` on this firm (not a matter of its state): the page leaves it out."""
    return any(permission_refusal(book, actor, permission) is not None
               for permission in machine.required_permissions(trigger, firm.state))


def _transition_form(request: Request, firm: Enterprise, current: ConsoleSession, trigger: str,
                     values: dict[str, str], problem: dict[str, Any] | None, status: int = 200,
                     preview: views.Preview | None = None) -> Response:
    assert current.actor is not None
    option = next(o for o in service.trigger_options(firm, current.actor) if o.trigger == trigger)
    return render(request, "transition.html", status, firm=firm, trigger=trigger, option=option, values=values,
                  spec=views.form_spec(book_now(), trigger, firm.state), problem=problem, preview=preview,
                  destructive=trigger in views.DESTRUCTIVE)


def _known_trigger(request: Request, trigger: str) -> None:
    if trigger not in machine.TRIGGERS:
        raise ConsoleExit(render(request, "error.html", 404, title="未知操作", message=f"没有名为“{trigger}”的操作"))


@router.get("/enterprises/{uscc}/transitions/{trigger}")
def transition_page(request: Request, session: SessionDep, uscc: str, trigger: str) -> Response:
    current = signed_in(request, session)
    firm = firm_of(request, session, uscc, current)
    _known_trigger(request, trigger)
    values = {"effective_date": business_today().isoformat(), "version": str(firm.version)}
    return _transition_form(request, firm, current, trigger, values, None)


@router.post("/enterprises/{uscc}/transitions/{trigger}")
def transition_submit(
    request: Request, session: SessionDep, uscc: str, trigger: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    effective_date: Annotated[str, Form(max_length=20)] = "",
    reason_code: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    document_no: Annotated[str, Form(max_length=100)] = "",
    batch: Annotated[str, Form(max_length=100)] = "",
    valid_until: Annotated[str, Form(max_length=20)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    firm = firm_of(request, session, uscc, current)
    _known_trigger(request, trigger)
    values = {"effective_date": effective_date, "reason_code": reason_code, "reason": reason,
              "document_no": document_no, "batch": batch, "valid_until": valid_until, "version": version}
    evidence = {"document_no": document_no, "batch": batch, "valid_until": valid_until}
    if trigger in views.DESTRUCTIVE and confirm != "yes":  # first the outcome, computed by the kernel; then record
        try:
            if not effective_date.strip():
                raise InvalidInput("请填写生效日期", field="effective_date")
            preview = views.dry_run(firm, trigger, current.actor,
                                    effective_date=parse_date(effective_date, field="effective_date"),
                                    reason_code=reason_code.strip() or None, reason=reason.strip() or None,
                                    evidence=evidence)
        except PipelineError as exc:
            problem = problem_of(exc)
            return _transition_form(request, firm, current, trigger, values, problem, problem["status"])
        return _transition_form(request, firm, current, trigger, values, None, preview=preview)
    try:
        with session.begin_nested():
            if not effective_date.strip():
                raise InvalidInput("请填写生效日期 — effective_date is required", field="effective_date")
            outcome = service.transition(
                session, firm.uscc, trigger=trigger, actor=current.actor,
                effective_date=parse_date(effective_date, field="effective_date"),
                reason_code=reason_code.strip() or None, reason=reason.strip() or None,
                evidence=evidence, expected_version=int(version) if version.strip().isdigit() else None,
                request_id=str(request.state.request_id),
            )
    except PipelineError as exc:
        session.expire_all()  # the savepoint rolled back; show the firm as stored
        problem = problem_of(exc)
        return _transition_form(request, firm, current, trigger, values, problem, problem["status"])
    return RedirectResponse(f"/console/enterprises/{outcome.enterprise.uscc}?event={outcome.event.seq}#event-"
                            f"{outcome.event.seq}", status_code=303)


@router.get("/machine")
def machine_page(request: Request, session: SessionDep) -> Response:
    signed_in(request, session)
    book = book_now()
    rows = [(source, dest, trigger) for trigger, source, dest in machine.TRANSITION_TABLE]
    return render(request, "machine.html", rows=rows, svg=machine_svg(book), new=machine.NEW)


@router.api_route("/{unknown:path}", methods=["GET", "POST"])
def unknown_page(request: Request, session: SessionDep, unknown: str) -> Response:
    """Any other /console address: a Chinese page, not the API's JSON."""
    load_session(request, session)
    return render(request, "error.html", 404, title="页面不存在",
                  message="您访问的页面不存在，可能地址有误或已被移除。")


def install_error_pages(app: FastAPI) -> None:
    """Errors raised in /console (a malformed form or query, an unexpected failure) answered as Chinese pages; the
    API's own handlers still run first (they log the failure), and the API keeps its problem documents."""
    for kind in (RequestValidationError, Exception):
        original = app.exception_handlers[kind]

        async def handler(request: Request, exc: Exception, original: Any = original) -> Response:
            response: Response = await original(request, exc)
            path = request.url.path
            if not path.startswith("/console") or path.startswith("/console/static"):
                return response
            request.state.console_session = None  # the request's transaction is gone: no user lookups
            if isinstance(exc, RequestValidationError):
                return render(request, "error.html", 422, title="请求参数有误",
                              message="提交的内容格式不正确或超出长度限制，请返回修改后重试。")
            request_id = getattr(request.state, "request_id", "")
            return render(request, "error.html", 500, title="系统内部错误",
                          message=f"处理时出现内部错误，未写入任何数据。请把请求编号 {request_id} 告知系统管理员。")

        app.add_exception_handler(kind, handler)
