"""What every console page shares: templates, the signed-in principal, CSRF checks, problems as the API states them."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console import views
from api.console.session import ConsoleExit, ConsoleSession, load_session
from api.deps import SessionDep, log_read
from api.problems import PROBLEM_TYPES, slug_for
from pipeline.dates import business_today
from pipeline.errors import GuardFailed, PipelineError
from pipeline.firms import repository
from pipeline.identifiers import region_name
from pipeline.models import Enterprise
from pipeline.rulebooks import Rulebook, rulebook_in_force, title_label

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)

ROLE_LABELS = {"official": "工信部门", "auditor": "审计/纪检", "integrator": "接入系统", "admin": "系统管理员"}
EXTRA_NAV = (("/console/imports", "名单导入", "imports"), ("/console/audit", "审计查询", "audit"))
LEVEL_LABELS = {"district": "区县", "city": "市", "province": "省"}


def book_now() -> Rulebook:
    return rulebook_in_force(business_today())


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    current: ConsoleSession | None = getattr(request.state, "console_session", None)
    book = book_now()
    base = {
        "request": request, "session": current, "csrf": current.csrf if current else "", "book": book,
        "today": business_today(), "user": _user(current), "trigger_label": lambda t: views.trigger_label(book, t),
        "label": book.label, "title_label": title_label, "region_name": region_name, "extra_nav": EXTRA_NAV,
    }
    return HTMLResponse(templates.get_template(name).render(**base, **context), status_code=status)


def _user(current: ConsoleSession | None) -> dict[str, str] | None:
    if current is None or current.principal is None or current.actor is None:
        return None
    principal, actor = current.principal, current.actor
    role = ROLE_LABELS.get(actor.role, actor.role)
    if actor.level:
        role = LEVEL_LABELS.get(actor.level, actor.level) + role
    area = "全部辖区" if actor.region_code is None else f"{region_name(actor.region_code) or ''}（{actor.region_code}）"
    return {"id": principal.id, "name": principal.name, "role": role, "area": area}


def signed_in(request: Request, session: SessionDep) -> ConsoleSession:
    """The session of a signed-in principal, or the end of the request with a redirect to sign-in."""
    current = load_session(request, session)
    if current.actor is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise ConsoleExit(RedirectResponse(f"/console/login?next={quote(target)}", status_code=303))
    log_read(request, session, current.actor)
    return current


def check_csrf(request: Request, current: ConsoleSession, submitted: str | None) -> None:
    if not current.csrf_ok(submitted):
        raise ConsoleExit(render(request, "error.html", 403, title="请求被拒绝（403）",
                                 message="表单校验码缺失或已失效，请返回页面刷新后重试 — the form's CSRF token "
                                         "is missing or stale; reload the page and submit again."))


def problem_of(exc: PipelineError) -> dict[str, Any]:
    """The problem document the API would return for this refusal (status, title, detail, refusals)."""
    slug = slug_for(exc)
    status, title, _ = PROBLEM_TYPES[slug]
    refusals = exc.extra.get("refusals") if isinstance(exc, GuardFailed) else None
    return {"slug": slug, "status": status, "title": title, "detail": exc.detail,
            "refusals": [r["message"] for r in refusals] if refusals and len(refusals) > 1 else []}


def firm_of(request: Request, session: SessionDep, uscc: str, current: ConsoleSession) -> Enterprise:
    assert current.actor is not None
    try:
        return repository.get_enterprise(session, uscc, current.actor)
    except PipelineError as exc:
        problem = problem_of(exc)
        raise ConsoleExit(render(request, "error.html", problem["status"], title=problem["title"],
                                 message=problem["detail"])) from None


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"
