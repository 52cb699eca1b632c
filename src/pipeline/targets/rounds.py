"""Application rounds (申报 → 推荐 → 认定): a round of a tier, firms' applications, recommendation within the
child region's quota, and the decision — whose approval is the firm's recognition, fired through
:func:`pipeline.firms.service.transition` in the same transaction (so awards follow as for any recognition).

An application moves only as :data:`MOVES` says; every change is appended to its chain (``applications``,
key = id) after locking its row. Rounds have their chain too (``rounds``).
申报批次：申报、推荐（名额内）、认定；认定即企业的认定事件。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.dates import business_today, utc_now
from pipeline.errors import AlreadyExists, Forbidden, GuardFailed, InvalidInput, NotFound, QuotaExceeded
from pipeline.firms import repository
from pipeline.firms import service as firms
from pipeline.history import ledger
from pipeline.identifiers import region_covers, region_prefix
from pipeline.models import Application, ApplicationRound
from pipeline.rulebooks import TITLE_TIERS, rulebook_in_force
from pipeline.targets import quotas as quota_rules
from pipeline.targets import service as targets

ROUNDS: Final = "rounds"
APPLICATIONS: Final = "applications"
APPLIED, RECOMMENDED, NOT_RECOMMENDED = "applied", "recommended", "not_recommended"
APPROVED, REJECTED, WITHDRAWN = "approved", "rejected", "withdrawn"
STATUSES: Final = (APPLIED, RECOMMENDED, NOT_RECOMMENDED, APPROVED, REJECTED, WITHDRAWN)
WAS_RECOMMENDED: Final = (RECOMMENDED, APPROVED, REJECTED)
"""Statuses that used a recommendation (推荐名额)."""

#: action → {from status: to status}: the whole life of an application.
MOVES: Final[Mapping[str, Mapping[str, str]]] = {
    "recommend": {APPLIED: RECOMMENDED},
    "not_recommend": {APPLIED: NOT_RECOMMENDED},
    "approve": {RECOMMENDED: APPROVED},
    "reject": {RECOMMENDED: REJECTED},
    "withdraw": {APPLIED: WITHDRAWN, RECOMMENDED: WITHDRAWN},
}


def eligibility_link(uscc: str, tier: str) -> str:
    return f"/api/v1/enterprises/{uscc}/eligibility?tier={tier}"


def round_view(item: ApplicationRound) -> dict[str, Any]:
    return {"id": item.id, "tier": item.tier, "year": item.year, "batch": item.batch,
            "opens_on": item.opens_on.isoformat(), "closes_on": item.closes_on.isoformat(),
            "document_no": item.document_no, "region_code": item.region_code, "created_by": item.created_by}


def application_view(app: Application, item: ApplicationRound) -> dict[str, Any]:
    return {"id": app.id, "round_id": app.round_id, "tier": item.tier, "year": item.year, "batch": item.batch,
            "uscc": app.uscc, "region_code": app.region_code, "status": app.status, "version": app.version,
            "submitted_on": app.submitted_on.isoformat(),
            "recommended_on": app.recommended_on.isoformat() if app.recommended_on else None,
            "decided_on": app.decided_on.isoformat() if app.decided_on else None,
            "document_no": app.document_no, "lost_points": app.lost_points, "recognition_seq": app.recognition_seq}


def _permit(actor: Actor, action: str, on: dt.date | None = None) -> None:
    require_permission(rulebook_in_force(on or business_today()), actor, action)


def create_round(session: Session, *, tier: str, year: int, batch: str, opens_on: dt.date, closes_on: dt.date,
                 document_no: str, actor: Actor, request_id: str | None = None) -> ApplicationRound:
    """Open a round of ``tier`` for the actor's jurisdiction."""
    _permit(actor, "open_round")
    if tier not in TITLE_TIERS:
        raise InvalidInput(f"申报批次按梯度 — a round is of a tier: {', '.join(TITLE_TIERS)}; got {tier!r}",
                           field="tier")
    targets.check_year(year)
    batch, document_no = batch.strip(), document_no.strip()
    if not batch or not document_no:
        raise InvalidInput("须给出批次与文号 — a round needs batch and document_no",
                           field="batch" if not batch else "document_no")
    if closes_on < opens_on:
        raise InvalidInput("截止日期早于开始日期 — closes_on is before opens_on", field="closes_on")
    now = utc_now()
    item = ApplicationRound(tier=tier, year=year, batch=batch, opens_on=opens_on, closes_on=closes_on,
                            document_no=document_no, region_code=actor.region_code, created_at=now,
                            created_by=actor.id)
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"{year}年{tier}批次“{batch}”已存在 — a {tier} round {batch!r} of {year} exists",
                            field="batch") from None
    ledger.append(session, ROUNDS, str(item.id), "open", round_view(item), actor=actor.id, request_id=request_id,
                  now=now)
    return item


def get_round(session: Session, round_id: int, actor: Actor) -> ApplicationRound:
    """A round the actor sees: one of its jurisdiction, or one whose jurisdiction contains it (a district sees
    its province's round)."""
    item = session.get(ApplicationRound, round_id)
    if item is None or not (item.region_code is None or actor.covers(item.region_code) or (
            actor.region_code is not None and region_covers(item.region_code, actor.region_code))):
        raise NotFound(f"没有申报批次{round_id} — no round {round_id}")
    return item


def apply(session: Session, round_id: int, *, uscc: str, submitted_on: dt.date, actor: Actor,
          request_id: str | None = None) -> tuple[Application, ApplicationRound]:
    """A firm's application (申报), entered by its district or city: one per firm per round."""
    _permit(actor, "apply_round", submitted_on)
    item = get_round(session, round_id, actor)
    enterprise = repository.get_enterprise(session, uscc, actor)
    if item.region_code is not None and not region_covers(item.region_code, enterprise.region_code):
        raise Forbidden(f"企业不在该批次的范围（{item.region_code}）内 — the firm is outside round {round_id}'s "
                        f"jurisdiction {item.region_code}", rule="jurisdiction", action="apply_round")
    if not item.opens_on <= submitted_on <= item.closes_on:
        raise GuardFailed(
            f"申报日期须在{item.opens_on}至{item.closes_on}之间 — submitted_on {submitted_on} is outside round "
            f"{round_id} ({item.opens_on} – {item.closes_on})", guard="round_window", trigger="apply_round",
            refusals=[{"guard": "round_window", "message": f"{item.opens_on} – {item.closes_on}"}])
    now = utc_now()
    app = Application(round_id=item.id, enterprise_id=enterprise.id, uscc=enterprise.uscc,
                      region_code=enterprise.region_code, status=APPLIED, version=1, submitted_on=submitted_on,
                      lost_points=[], updated_at=now)
    try:
        with session.begin_nested():
            session.add(app)
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"企业{enterprise.uscc}已在批次{round_id}中申报 — {enterprise.uscc} already applied in "
                            f"round {round_id}", field="uscc") from None
    ledger.append(session, APPLICATIONS, str(app.id), "apply", application_view(app, item), actor=actor.id,
                  request_id=request_id, now=now)
    return app, item


def _locked(session: Session, application_id: int, actor: Actor) -> tuple[Application, ApplicationRound]:
    app = session.scalars(select(Application).where(Application.id == application_id).with_for_update()).one_or_none()
    if app is None or not actor.covers(app.region_code):
        raise NotFound(f"没有申报{application_id} — no application {application_id}")
    item = session.get(ApplicationRound, app.round_id)
    assert item is not None  # a foreign key
    return app, item


def _move(app: Application, action: str) -> str:
    target = MOVES[action].get(app.status)
    if target is None:
        allowed = ", ".join(a for a, moves in MOVES.items() if app.status in moves) or "none"
        message = (f"申报状态为“{app.status}”，不能{action} — application {app.id} is {app.status}; "
                   f"{action} needs {' or '.join(MOVES[action])}; allowed now: {allowed}")
        raise GuardFailed(message, guard="application_status", trigger=action,
                          refusals=[{"guard": "application_status", "message": message}])
    return target


def _record(session: Session, app: Application, item: ApplicationRound, action: str, actor: Actor,
            reason: str | None, request_id: str | None) -> None:
    now = utc_now()
    app.version += 1
    app.updated_at = now
    session.flush()
    ledger.append(session, APPLICATIONS, str(app.id), action, application_view(app, item), actor=actor.id,
                  reason=reason, request_id=request_id, now=now)


def recommended_count(session: Session, year: int, tier: str, child: str) -> int:
    """Applications of the year's rounds of ``tier`` from ``child`` that used a recommendation."""
    return int(session.scalar(
        select(func.count()).select_from(Application)
        .join(ApplicationRound, ApplicationRound.id == Application.round_id)
        .where(ApplicationRound.year == year, ApplicationRound.tier == tier, Application.status.in_(WAS_RECOMMENDED),
               Application.region_code.startswith(region_prefix(child)))) or 0)


def recommend(session: Session, application_id: int, *, actor: Actor, recommended: bool = True,
              on: dt.date | None = None, reason: str | None = None,
              request_id: str | None = None) -> tuple[Application, ApplicationRound]:
    """推荐 (or 不推荐) by the next level; a recommendation past the child region's quota is refused."""
    day = on or business_today()
    _permit(actor, "recommend_application", day)
    app, item = _locked(session, application_id, actor)
    action = "recommend" if recommended else "not_recommend"
    moved = _move(app, action)
    if recommended:  # counted before this application's own status moves
        for quota, child in quota_rules.applicable(session, item.year, item.tier, app.region_code, lock=True):
            (limit,) = quota_rules.child_quotas(session, quota, only=child)
            used = recommended_count(session, item.year, item.tier, child)
            if used >= limit.quota:
                raise QuotaExceeded(
                    f"{child}{item.year}年{item.tier}推荐名额{limit.quota}个已用完 — {child} has used its {item.year} "
                    f"{item.tier} quota of {limit.quota} (set by {quota.region_code}): base {limit.base} + bonus "
                    f"{limit.bonus} at completion {limit.completion}", region_code=child, quota=limit.quota,
                    recommended=used, quota_region=quota.region_code)
        app.recommended_on = day
    app.status = moved
    _record(session, app, item, action, actor, reason, request_id)
    return app, item


def _lost_points(lost_points: Sequence[Mapping[str, Any]], on: dt.date) -> list[dict[str, Any]]:
    rulebook = rulebook_in_force(on)
    indicators = rulebook.sections.get("eligibility", {}).get("indicators", {})
    checked = []
    for index, lost in enumerate(lost_points):
        criterion, points = str(lost.get("criterion") or ""), lost.get("points")
        if criterion not in indicators:
            raise InvalidInput(f"失分项应为规则{rulebook.id}的指标 — lost_points[{index}].criterion "
                               f"{criterion!r} is not an indicator of rulebook {rulebook.id} "
                               f"(GET /api/v1/indicators lists them)",
                               field=f"lost_points[{index}].criterion")
        if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
            raise InvalidInput(f"失分应为正数 — lost_points[{index}].points must be > 0",
                               field=f"lost_points[{index}].points")
        note = lost.get("note")
        checked.append({"criterion": criterion, "points": points, "note": str(note) if note is not None else None})
    return checked


def decide(session: Session, application_id: int, *, outcome: str, decided_on: dt.date, document_no: str,
           lost_points: Sequence[Mapping[str, Any]] = (), actor: Actor, reason: str | None = None,
           request_id: str | None = None) -> tuple[Application, ApplicationRound]:
    """认定: approval fires ``recognize_<tier>`` with the round's batch and this document number, in this
    transaction — a refused recognition refuses the decision and the application stays recommended."""
    _permit(actor, "decide_application", decided_on)
    if outcome not in ("approved", "rejected"):
        raise InvalidInput("outcome 应为 approved 或 rejected", field="outcome")
    document_no = document_no.strip()
    if not document_no:
        raise InvalidInput("认定结果须注明文号 — a decision needs document_no", field="document_no")
    app, item = _locked(session, application_id, actor)
    app.status = _move(app, "approve" if outcome == "approved" else "reject")
    app.lost_points = _lost_points(lost_points, decided_on)
    app.decided_on, app.document_no = decided_on, document_no
    if outcome == "approved":
        fired = firms.transition(session, app.uscc, trigger=f"recognize_{item.tier}", effective_date=decided_on,
                                 actor=actor, evidence={"document_no": document_no, "batch": item.batch},
                                 reason=reason, request_id=request_id)
        app.recognition_seq = fired.event.seq
    _record(session, app, item, outcome, actor, reason, request_id)
    return app, item


def withdraw(session: Session, application_id: int, *, actor: Actor, reason: str | None = None,
             request_id: str | None = None) -> tuple[Application, ApplicationRound]:
    _permit(actor, "withdraw_application")
    app, item = _locked(session, application_id, actor)
    app.status = _move(app, "withdraw")
    _record(session, app, item, "withdraw", actor, reason, request_id)
    return app, item


def applications(session: Session, round_id: int, actor: Actor, *, status: str | None = None,
                 after_id: int = 0, limit: int = 100) -> tuple[list[Application], ApplicationRound, bool]:
    """A round's applications within the actor's jurisdiction, by id after ``after_id``; and whether more."""
    item = get_round(session, round_id, actor)
    query = (select(Application).where(Application.round_id == round_id, Application.id > after_id)
             .order_by(Application.id).limit(limit + 1))
    if actor.region_prefix:
        query = query.where(Application.region_code.startswith(actor.region_prefix))
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"status 应为 {', '.join(STATUSES)}", field="status")
        query = query.where(Application.status == status)
    found = list(session.scalars(query))
    return found[:limit], item, len(found) > limit
