"""/console/rounds — application rounds (申报 → 推荐 → 认定): the rounds the official sees, a round's applications
with their status in Chinese, the quota of each child region and how much of it is used, the points lost on a
rejection; and the 推荐 / 不推荐 and 认定 forms for exactly the roles the rulebook's permissions name.

Every write is :mod:`pipeline.targets.rounds` (quota, status moves, the recognition an approval fires) run in a
savepoint; a refusal shows the round again with the API's problem in Chinese.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.console import catalogue
from api.console.pages import book_now, check_csrf, problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.console.targets_page import TIER_LABELS, refused, require_reader
from api.deps import SessionDep
from pipeline.access import Actor, permission_refusal
from pipeline.dates import business_today, parse_date
from pipeline.errors import InvalidInput, NotFound, PipelineError
from pipeline.models import Application, ApplicationRound, Enterprise
from pipeline.targets import quotas, rounds

router = APIRouter(route_class=ConsoleRoute)

STATUS_LABELS = {rounds.APPLIED: "已申报", rounds.RECOMMENDED: "已推荐", rounds.NOT_RECOMMENDED: "未推荐",
                 rounds.APPROVED: "已认定", rounds.REJECTED: "未通过认定", rounds.WITHDRAWN: "已撤回"}
PAGE = 200


def visible_rounds(session: Session, actor: Actor) -> list[ApplicationRound]:
    """The rounds :func:`pipeline.targets.rounds.get_round` lets the actor open, newest year first."""
    found = []
    for item in session.scalars(select(ApplicationRound).order_by(ApplicationRound.year.desc(),
                                                                  ApplicationRound.id.desc()).limit(PAGE)):
        try:
            found.append(rounds.get_round(session, item.id, actor))
        except NotFound:
            continue
    return found


@router.get("/rounds")
def rounds_page(request: Request, session: SessionDep) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    try:
        require_reader(current.actor, "申报批次")
    except PipelineError as exc:
        raise refused(request, exc) from None
    return render(request, "rounds.html", items=visible_rounds(session, current.actor), tiers=TIER_LABELS)


def _criteria() -> dict[str, str]:
    indicators = book_now().sections.get("eligibility", {}).get("indicators", {})
    return {key: str(spec.get("label_zh") or catalogue.zh(key)) for key, spec in indicators.items()}


def _quota_rows(session: Session, actor: Actor, item: ApplicationRound) -> list[dict[str, Any]]:
    """Per child region of the official's own region: the quota for the round's year and tier, and used."""
    if actor.region_code is None:
        return []
    rows = []
    for _quota, children in quotas.quotas(session, actor, region=actor.region_code, year=item.year, tier=item.tier):
        for child in children:
            rows.append({**child.as_dict(), "used": rounds.recommended_count(session, item.year, item.tier,
                                                                              child.region_code)})
    return rows


def _round_page(request: Request, session: Session, actor: Actor, round_id: int, *, status: int = 200,
                problem: dict[str, Any] | None = None, values: dict[str, str] | None = None) -> Response:
    try:
        require_reader(actor, "申报批次")
        apps, item, more = rounds.applications(session, round_id, actor, limit=PAGE)
    except PipelineError as exc:
        raise refused(request, exc) from None
    names = dict(session.execute(select(Enterprise.id, Enterprise.name)
                                 .where(Enterprise.id.in_([a.enterprise_id for a in apps]))).all())
    book = book_now()
    can = {action: permission_refusal(book, actor, action) is None
           for action in ("recommend_application", "decide_application")}
    return render(request, "round.html", status, item=item, apps=apps, more=more, names=names,
                  statuses=STATUS_LABELS, tiers=TIER_LABELS, quota_rows=_quota_rows(session, actor, item),
                  can=can, criteria=_criteria(), problem=problem, values=values or {})


@router.get("/rounds/{round_id}")
def round_page(request: Request, session: SessionDep, round_id: int) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    return _round_page(request, session, current.actor, round_id)


def _application(session: Session, application_id: int, actor: Actor) -> Application:
    """An application in the actor's jurisdiction (else 404, as the service answers)."""
    app = session.get(Application, application_id)
    if app is None or not actor.covers(app.region_code):
        raise NotFound(f"没有申报{application_id} — no application {application_id}")
    return app


@router.post("/applications/{application_id}/recommend")
def recommend_submit(request: Request, session: SessionDep, application_id: int,
                     csrf_token: Annotated[str, Form(max_length=200)] = "",
                     recommended: Annotated[str, Form(max_length=5)] = "yes",
                     reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    try:
        round_id = _application(session, application_id, current.actor).round_id
    except PipelineError as exc:
        raise refused(request, exc) from None
    try:
        with session.begin_nested():
            rounds.recommend(session, application_id, actor=current.actor, recommended=recommended != "no",
                             reason=reason.strip() or None, request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _round_page(request, session, current.actor, round_id, status=problem["status"], problem=problem)
    return RedirectResponse(f"/console/rounds/{round_id}#application-{application_id}", status_code=303)


@router.post("/applications/{application_id}/decide")
def decide_submit(request: Request, session: SessionDep, application_id: int,
                  csrf_token: Annotated[str, Form(max_length=200)] = "",
                  outcome: Annotated[str, Form(max_length=16)] = "",
                  decided_on: Annotated[str, Form(max_length=20)] = "",
                  document_no: Annotated[str, Form(max_length=100)] = "",
                  criterion: Annotated[str, Form(max_length=64)] = "",
                  points: Annotated[str, Form(max_length=12)] = "",
                  reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    values = {"outcome": outcome, "decided_on": decided_on, "document_no": document_no, "criterion": criterion,
              "points": points, "reason": reason, "application": str(application_id)}
    try:
        round_id = _application(session, application_id, current.actor).round_id
    except PipelineError as exc:
        raise refused(request, exc) from None
    try:
        with session.begin_nested():
            lost: list[dict[str, Any]] = []
            if outcome == "rejected" and criterion.strip():
                try:
                    amount = float(points)
                except ValueError:
                    raise InvalidInput("失分请填写数字", field="points") from None
                lost.append({"criterion": criterion.strip(), "points": int(amount) if amount.is_integer() else amount})
            day = parse_date(decided_on, field="decided_on") if decided_on.strip() else business_today()
            rounds.decide(session, application_id, outcome=outcome, decided_on=day,
                          document_no=document_no, lost_points=lost, actor=current.actor,
                          reason=reason.strip() or None, request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _round_page(request, session, current.actor, round_id, status=problem["status"], problem=problem,
                           values=values)
    return RedirectResponse(f"/console/rounds/{round_id}#application-{application_id}", status_code=303)

