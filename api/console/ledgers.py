"""/console/titles — side titles (单项冠军, 高新技术企业 …): firms holding each kind today in the jurisdiction, and
the holders of one kind; /console/awards — the awards ledger: what is owed, approved and paid, by payer.

The awards page reads the ledger (``award_entitlements``) as the API does. Officials see the entitlements of firms
in their jurisdiction and may approve the shares :func:`pipeline.awards.flow.may_approve` gives them; a finance
bureau (``finance``) sees the shares its region pays and records them paid. Who may act is the rulebook's
``approve_award`` / ``pay_award``; auditors read only. Each action is :mod:`pipeline.awards.flow` in a savepoint.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.console.pages import book_now, check_csrf, problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.deps import SessionDep
from pipeline.access import Actor, permission_refusal
from pipeline.awards import flow
from pipeline.dates import business_today, parse_date
from pipeline.errors import InvalidInput, PipelineError
from pipeline.models import Enterprise, Entitlement
from pipeline.policies.service import current_packs
from pipeline.titles import roster

router = APIRouter(route_class=ConsoleRoute)

SHARE_STATUS = {"entitled": "待审批", "approved": "已审批待拨付", "paid": "已拨付", "cancelled": "已取消",
                "void": "已作废", "clawback_due": "待追回", "settled": "已追回"}
PAGE = 100


@router.get("/titles")
def titles_page(request: Request, session: SessionDep, kind: Annotated[str, Query(max_length=32)] = "") -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    book, today = book_now(), business_today()
    kinds = {k: spec.label for k, spec in book.side_titles.items()}
    counts: dict[str, int] = defaultdict(int)
    for _, held, n in roster.counts_by_region(session, current.actor, as_of=today, region=None):
        counts[held] += n
    holders: list[tuple[Any, list[Any]]] = []
    more = False
    try:
        if kind:
            if kind not in kinds:
                raise InvalidInput("未知的并列称号类别", field="kind")
            holders, more = roster.holders(session, current.actor, kind=kind, as_of=today, region=None,
                                           known_at=None, after_id=0, limit=PAGE)
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "error.html", problem["status"], title=problem["title"], message=problem["detail"])
    return render(request, "titles.html", kinds=kinds, counts=counts, kind=kind, holders=holders, more=more)


@dataclass
class PayerTotals:
    region_code: str
    amounts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerRow:
    entitlement: Entitlement
    firm_name: str
    award_label: str
    document_no: str
    shares: list[dict[str, Any]]


def _award_labels(session: Session) -> dict[tuple[str, str], tuple[str, str]]:
    return {(pack.id, award.id): (award.label, pack.document_no) for pack in current_packs(session)
            for award in pack.awards}


def ledger(session: Session, actor: Actor, limit: int = 500) -> tuple[list[LedgerRow], list[PayerTotals]]:
    """Entitlements the actor may see, newest first, and per payer region the sums by share status."""
    query = (select(Entitlement, Enterprise.name).join(Enterprise, Enterprise.id == Entitlement.enterprise_id)
             .where(Entitlement.superseded_by.is_(None)).order_by(Entitlement.id.desc()))
    prefix = actor.region_prefix
    if prefix and actor.role != "finance":
        query = query.where(Entitlement.region_code.startswith(prefix))
    labels = _award_labels(session)
    rows: list[LedgerRow] = []
    totals: dict[str, PayerTotals] = {}
    for entitlement, name in session.execute(query):
        shares = [s for s in entitlement.payers  # a finance bureau: the shares of exactly its region
                  if actor.role != "finance" or s.get("region_code") == actor.region_code]
        if not shares:
            continue
        for share in shares:
            payer = totals.setdefault(str(share["region_code"]), PayerTotals(str(share["region_code"])))
            status = str(share.get("status") or entitlement.status)
            payer.amounts[status] = payer.amounts.get(status, 0) + int(share.get("amount") or 0)
        if len(rows) < limit:
            label, document = labels.get((entitlement.policy_id, entitlement.award_id), (entitlement.award_id, ""))
            rows.append(LedgerRow(entitlement, name, label, document, shares))
    return rows, sorted(totals.values(), key=lambda t: t.region_code)


def _actions(actor: Actor) -> dict[str, Any]:
    """What this user may do on a row: approve the shares awaiting approval it may approve, pay its own."""
    book = book_now()
    approve = permission_refusal(book, actor, flow.APPROVE) is None
    pay = permission_refusal(book, actor, flow.PAY) is None

    def can_approve(row: LedgerRow) -> bool:
        return approve and any(s.get("status") == "entitled" and flow.may_approve(actor, str(s["region_code"]))
                               for s in row.entitlement.payers)

    def can_pay(row: LedgerRow) -> bool:
        return pay and any(s.get("status") == "approved" and (actor.role == "admin"
                                                               or s.get("region_code") == actor.region_code)
                           for s in row.entitlement.payers)

    return {"can_approve": can_approve, "can_pay": can_pay}


def _awards(request: Request, session: Session, actor: Actor, status: int = 200,
            problem: dict[str, Any] | None = None, failed: int | None = None) -> Response:
    rows, totals = ledger(session, actor)
    columns = {s: text for s, text in SHARE_STATUS.items()  # the way to payment, and any other status that occurs
               if s in ("entitled", "approved", "paid") or any(t.amounts.get(s) for t in totals)}
    return render(request, "awards.html", status, rows=rows, totals=totals, statuses=SHARE_STATUS, columns=columns,
                  problem=problem, failed=failed, **_actions(actor))


@router.get("/awards")
def awards_page(request: Request, session: SessionDep) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    return _awards(request, session, current.actor)


@router.post("/awards/{entitlement_id}/approve")
def approve_submit(request: Request, session: SessionDep, entitlement_id: int,
                   csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    try:
        with session.begin_nested():
            flow.approve(session, entitlement_id, actor=current.actor, request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _awards(request, session, current.actor, problem["status"], problem, entitlement_id)
    return RedirectResponse(f"/console/awards#entitlement-{entitlement_id}", status_code=303)


@router.post("/awards/{entitlement_id}/pay")
def pay_submit(request: Request, session: SessionDep, entitlement_id: int,
               csrf_token: Annotated[str, Form(max_length=200)] = "",
               paid_on: Annotated[str, Form(max_length=20)] = "",
               document_no: Annotated[str, Form(max_length=100)] = "") -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    assert current.actor is not None
    try:
        with session.begin_nested():
            if not paid_on.strip():
                raise InvalidInput("请填写拨付日期", field="paid_on")
            flow.pay(session, entitlement_id, paid_on=parse_date(paid_on, field="paid_on"), document_no=document_no,
                     actor=current.actor, request_id=str(request.state.request_id))
    except PipelineError as exc:
        session.expire_all()
        problem = problem_of(exc)
        return _awards(request, session, current.actor, problem["status"], problem, entitlement_id)
    return RedirectResponse(f"/console/awards#entitlement-{entitlement_id}", status_code=303)
