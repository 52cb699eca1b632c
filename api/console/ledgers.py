"""/console/titles — side titles (单项冠军, 高新技术企业 …): firms holding each kind today in the jurisdiction, and
the holders of one kind; /console/awards — the awards ledger: what is owed, approved and paid, by payer.

The awards page reads the ledger (``award_entitlements``) as the API does; it is read-only here (approving and
paying are API actions of the roles the rulebook names). Officials see the entitlements of firms in their
jurisdiction; a finance bureau (``finance``) sees the shares its region pays.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.console.pages import book_now, problem_of, render, signed_in
from api.console.session import ConsoleRoute
from api.deps import SessionDep
from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.errors import InvalidInput, PipelineError
from pipeline.models import Enterprise, Entitlement
from pipeline.policies.service import current_packs
from pipeline.titles import roster

router = APIRouter(route_class=ConsoleRoute)

SHARE_STATUS = {"entitled": "待审批", "approved": "已审批待拨付", "paid": "已拨付", "cancelled": "已取消",
                "void": "已作废"}
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


@router.get("/awards")
def awards_page(request: Request, session: SessionDep) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    rows, totals = ledger(session, current.actor)
    return render(request, "awards.html", rows=rows, totals=totals, statuses=SHARE_STATUS)
