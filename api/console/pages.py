"""What every console page shares: templates, the signed-in principal, CSRF checks, problems as the API states them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from api.console import catalogue, views
from api.console.session import ConsoleExit, ConsoleSession, idle_limit, load_session
from api.deps import SessionDep, log_read
from api.problems import PROBLEM_TYPES, slug_for
from pipeline.dates import business_today
from pipeline.errors import GuardFailed, PipelineError
from pipeline.firms import repository
from pipeline.identifiers import region_full_name
from pipeline.models import Enterprise, Principal
from pipeline.rulebooks import Rulebook, rulebook_in_force, title_label

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)

ROLE_LABELS = {"official": "工信部门", "auditor": "审计/纪检", "integrator": "接入系统", "admin": "系统管理员",
               "finance": "财政部门"}
EXTRA_NAV = (("/console/dashboard", "区划统计", "dashboard"), ("/console/review", "复核清单", "review"),
             ("/console/titles", "并列称号", "titles"), ("/console/awards", "奖励台账", "awards"),
             ("/console/targets", "目标通报", "targets"), ("/console/rounds", "申报批次", "rounds"),
             ("/console/credit", "信贷", "credit"),
             ("/console/imports", "名单导入", "imports"),
             ("/console/audit", "审计查询", "audit"))
NAV_ROLES = {"imports": ("official", "admin"), "audit": ("official", "auditor", "admin"),
             "dashboard": ("official", "auditor", "admin"), "review": ("official", "auditor", "admin"),
             "titles": ("official", "auditor", "admin"), "awards": ("official", "auditor", "finance", "admin"),
             "targets": ("official", "auditor", "admin"), "rounds": ("official", "auditor", "admin"),
             "credit": ("official", "auditor", "admin")}
"""Who sees which extra page in the menu (a page refuses the others on its own)."""
BEIJING = ZoneInfo("Asia/Shanghai")
MAX_KEPT_FIELD = 2000
"""Longest typed value kept through a sign-in or offered again from a stale tab (a reason is ≤ 2000)."""
LEVEL_LABELS = {"district": "区县", "city": "市", "province": "省"}


def book_now() -> Rulebook:
    return rulebook_in_force(business_today())


def beijing(moment: dt.datetime | None) -> str:
    """A stored instant (UTC) as 北京时间, to the second."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def place(code: str | None) -> str:
    """A division code as its full name with the city (河南省郑州市上街区)."""
    if not code:
        return ""
    return region_full_name(code) or code


def actor_names(request: Request) -> Callable[[str], str]:
    """``actor_name(id)``: a principal's name (never its ``p-…`` id), the CLI and the system in words."""
    cache: dict[str, str] = getattr(request.state, "actor_names", None) or {}
    request.state.actor_names = cache

    def name(actor_id: str) -> str:
        if actor_id not in cache:
            db: Session | None = getattr(request.state, "db", None)
            principal = db.get(Principal, actor_id) if db is not None else None
            if principal is not None:
                cache[actor_id] = principal.name
            elif actor_id.startswith("cli:"):
                cache[actor_id] = "系统管理员（命令行）"
            elif actor_id == "system":
                cache[actor_id] = "系统自动处理"
            else:
                cache[actor_id] = "其他系统"
        return cache[actor_id]

    return name


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    current: ConsoleSession | None = getattr(request.state, "console_session", None)
    book = book_now()
    base = {
        "request": request, "session": current, "csrf": current.csrf if current else "", "book": book,
        "today": business_today(), "user": _user(current), "trigger_label": lambda t: views.trigger_label(book, t),
        "label": book.label, "title_label": title_label, "region_name": place, "extra_nav": nav_for(current),
        "zh": catalogue.zh, "actor_name": actor_names(request), "beijing": beijing,
        "field_label": catalogue.field_label,
        "rulebook_name": catalogue.rulebook_name, "value_text": lambda v: catalogue.value_text(book, v),
        "end_reason": lambda r: catalogue.zh(r) if r else "", "plain": catalogue.plain,
        "idle_minutes": int(idle_limit().total_seconds() // 60),
    }
    return HTMLResponse(templates.get_template(name).render(**base, **context), status_code=status)


def nav_for(current: ConsoleSession | None) -> list[tuple[str, str, str]]:
    """The menu of this role: auditors get no import page."""
    role = current.actor.role if current is not None and current.actor is not None else ""
    return [item for item in EXTRA_NAV if role in NAV_ROLES.get(item[2], (role,))]


def _user(current: ConsoleSession | None) -> dict[str, str] | None:
    if current is None or current.principal is None or current.actor is None:
        return None
    principal, actor = current.principal, current.actor
    name = f"{current.user.name}（{principal.name}）" if current.user is not None else principal.name
    role = ROLE_LABELS.get(actor.role, actor.role)
    if actor.level:
        role = LEVEL_LABELS.get(actor.level, actor.level) + role
    area = "全部辖区" if actor.region_code is None else place(actor.region_code)
    return {"id": principal.id, "name": name, "role": role, "area": area}


def posted_fields(request: Request) -> list[tuple[str, str]]:
    """The text fields of the form this POST carried (FastAPI has parsed it already), without the CSRF token:
    what the official typed, to be offered again after signing in or from a fresh page."""
    form = getattr(request, "_form", None)
    if request.method != "POST" or form is None:
        return []
    return [(k, v) for k, v in form.multi_items()  # not files, nor an import's carried file (too long to retype)
            if isinstance(v, str) and len(v) <= MAX_KEPT_FIELD and k not in ("csrf_token", "confirm")]


def signed_in(request: Request, session: SessionDep) -> ConsoleSession:
    """The session of a signed-in principal, or the end of the request: a redirect to sign-in, or — for a form
    posted after the session ended — the sign-in page keeping what was typed."""
    current = load_session(request, session)
    if current.actor is None:
        if request.method == "POST":
            raise ConsoleExit(render(request, "login.html", 401, next=request.url.path, error=None,
                                     expired=current.expired, resume=posted_fields(request)))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        flag = "&expired=1" if current.expired else ""
        raise ConsoleExit(RedirectResponse(f"/console/login?next={quote(target)}{flag}", status_code=303))
    log_read(request, session, current.actor)
    request.state.db = session
    return current


def check_csrf(request: Request, current: ConsoleSession, submitted: str | None) -> None:
    """A form from a page of an earlier session (another tab signed out or in since) is not processed; the page
    says why and, when signed in, offers the typed form again to submit from this session."""
    if not current.csrf_ok(submitted):
        fields = posted_fields(request) if current.actor is not None else []
        raise ConsoleExit(render(request, "resume.html", 403, title="页面已过期", action=request.url.path,
                                 fields=fields, message="这个表单来自一个已过期的页面（例如您在另一个标签页退出或"
                                 "重新登录过），为安全起见未予处理。"))


def problem_of(exc: PipelineError) -> dict[str, Any]:
    """The problem document the API would return for this refusal (status, title, detail, refusals)."""
    slug = slug_for(exc)
    status, _, _ = PROBLEM_TYPES[slug]
    refusals = exc.extra.get("refusals") if isinstance(exc, GuardFailed) else None
    return {"slug": slug, "status": status, "title": catalogue.problem_title(slug), "detail": catalogue.zh(exc.detail),
            "refusals": [catalogue.zh(r["message"]) for r in refusals] if refusals and len(refusals) > 1 else []}


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
