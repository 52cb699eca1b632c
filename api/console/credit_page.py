"""/console/credit — 专精特新贷 for officials and auditors: the banks' white-list on a date (with its Excel file,
Chinese headers and values, region names, date cells, a Chinese file name) and the credit report per tier; and
the firm page's 信贷 section (ceiling, white-listing, outstanding, headroom, the basis in words, the firm's loans).

Everything is :mod:`pipeline.credit` (ceilings, white-list, report); banks (integrators) use the API.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.console import catalogue
from api.console.exports_page import download
from api.console.pages import book_now, place, render, signed_in
from api.console.session import ConsoleRoute
from api.console.targets_page import READERS, TIER_LABELS, refused, require_reader
from api.deps import SessionDep
from pipeline.access import Actor
from pipeline.credit import ceilings, loans, reports
from pipeline.dates import business_today
from pipeline.errors import PipelineError
from pipeline.imports import exports as export_lists
from pipeline.models import Enterprise, Loan
from pipeline.policies.service import current_packs

router = APIRouter(route_class=ConsoleRoute)

PAGE = 200
WHITELIST_HEADERS = ("序号", "统一社会信用代码", "企业名称", "区划代码", "区划名称", "最高称号", "称号有效期至",
                     "无抵押授信上限（元）", "白名单依据")
USED_FOR = {"ceiling": "授信上限", "whitelist": "白名单"}


@dataclass(frozen=True)
class FirmCredit:
    answer: ceilings.CreditAnswer
    basis: list[str]
    loans: list[dict[str, Any]]


def firm_credit(session: Session, actor: Actor, firm: Enterprise) -> FirmCredit | None:
    """The firm page's 信贷 section, for the roles that read credit in the console (not banks, not finance)."""
    if actor.role not in READERS:
        return None
    answer = ceilings.credit(session, firm, as_of=business_today())
    basis = [catalogue.zh(part) for part in answer.basis.split("；") if part.strip()]
    found = session.scalars(select(Loan).where(Loan.enterprise_id == firm.id).order_by(Loan.signed_on.desc(),
                                                                                         Loan.id.desc()))
    return FirmCredit(answer, basis, [loans.view(loan) for loan in found])


def _documents(session: Session) -> dict[str, str]:
    return {pack.id: pack.document_no for pack in current_packs(session)}


def _basis(policies: Sequence[ceilings.PolicyUse], documents: dict[str, str]) -> str:
    return "、".join(f"{documents.get(p.id, p.id)}（{USED_FOR.get(p.used_for, p.used_for)}）" for p in policies)


@router.get("/credit")
def credit_page(request: Request, session: SessionDep) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    today = business_today()
    try:
        require_reader(current.actor, "信贷信息")
        entries, more = ceilings.whitelist(session, current.actor, as_of=today, limit=PAGE)
        tiers = reports.report(session, current.actor, as_of=today)
    except PipelineError as exc:
        raise refused(request, exc) from None
    book = book_now()
    documents = _documents(session)
    return render(request, "credit.html", entries=entries, more=more, tiers=tiers, as_of=today,
                  tier_label=lambda t: "无有效称号" if t == reports.UNTITLED else TIER_LABELS.get(t, book.label(t)),
                  basis=lambda e: _basis(e.policies, documents))


@router.get("/credit/whitelist.xlsx")
def whitelist_workbook(request: Request, session: SessionDep) -> Response:
    current = signed_in(request, session)
    assert current.actor is not None
    today = business_today()
    try:
        require_reader(current.actor, "信贷信息")
        entries, _ = ceilings.whitelist(session, current.actor, as_of=today, limit=10**9)
    except PipelineError as exc:
        raise refused(request, exc) from None
    book = book_now()
    documents = _documents(session)

    def rows() -> Iterator[Sequence[Any]]:
        for number, e in enumerate(entries, start=1):
            yield (number, e.uscc, e.name, e.region_code, place(e.region_code), book.label(e.highest_title),
                   e.valid_until, e.ceiling_yuan, _basis(e.policies, documents))

    return download(export_lists.Table(f"银行白名单（{today.isoformat()}）", WHITELIST_HEADERS, rows()), "xlsx",
                    "银行白名单")
