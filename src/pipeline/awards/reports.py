"""The ledger as officials and finance bureaus read it: entitlements listed by status, pack, payer, region and
year; payers' budgets (each change on the ``budgets`` record chain); and the yearly report per pack and payer —
owed, approved, paid, outstanding against the budget — with its 拨付清单 rows.

Figures of a year: **owed** is the shares of live entitlements whose achievement falls in the year;
**approved** and **outstanding** are those shares still awaiting payment once approved, and not yet paid at
all; **paid** is the shares paid in the year (whatever year they were owed in).
奖励台账查询、预算与年度拨付报表。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.awards.service import LIVE
from pipeline.dates import business_today, utc_now
from pipeline.errors import Forbidden, InvalidInput
from pipeline.history import ledger as chains
from pipeline.identifiers import region_covers, region_name, region_prefix, validate_region
from pipeline.models import AwardBudget, Enterprise, Entitlement
from pipeline.policies import shipped_packs
from pipeline.rulebooks import rulebook_in_force

STATUSES = ("entitled", "approved", "partially_paid", "paid", "cancelled", "clawback_due", "settled")
STATUS_LABELS = {"entitled": "应享待审批", "approved": "已审批待拨付", "partially_paid": "部分拨付", "paid": "已拨付",
                 "cancelled": "已取消", "clawback_due": "待追回", "settled": "已追回"}
BUDGET_CHAIN = "budgets"
SET_BUDGET = "set_budget"
SCAN = 500
PAYOUT_HEADERS = ("序号", "付款方区划代码", "付款方", "政策文件文号", "奖励项目", "企业名称", "统一社会信用代码",
                  "企业区划代码", "企业所在地区", "认定日期", "应享金额（元）", "状态", "拨付日期", "拨付文号",
                  "应享记录编号")


def _year(year: int) -> int:
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"年度{year}不在2000–2100之间 — year must be between 2000 and 2100", field="year")
    return year


def _region(actor: Actor, region: str | None) -> str | None:
    """The region prefix to narrow to: within the caller's jurisdiction (422 if outside it)."""
    if region is None:
        return None
    wanted = region_prefix(validate_region(region, field="region"))
    scope = actor.region_prefix
    if scope is not None and not (wanted.startswith(scope) or scope.startswith(wanted)):
        raise InvalidInput(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction",
                           field="region")
    return wanted


def list_entitlements(session: Session, actor: Actor, *, status: str | None = None, policy: str | None = None,
                      payer: str | None = None, region: str | None = None, year: int | None = None,
                      limit: int = 100, after: int = 0) -> tuple[list[Entitlement], int | None]:
    """One keyset page (by id) of the entitlements of firms in the caller's jurisdiction, and the id to continue
    after (``None`` on the last page). ``payer`` keeps those with a share paid by exactly that region."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"未知状态 — unknown status {status!r}; statuses: {', '.join(STATUSES)}", field="status")
    if payer is not None:
        payer = validate_region(payer, field="payer")
    query = select(Entitlement).order_by(Entitlement.id).limit(SCAN)
    if actor.region_prefix:
        query = query.where(Entitlement.region_code.startswith(actor.region_prefix))
    if (prefix := _region(actor, region)) is not None:
        query = query.where(Entitlement.region_code.startswith(prefix))
    if status is not None:
        query = query.where(Entitlement.status == status)
    if policy is not None:
        query = query.where(Entitlement.policy_id == policy)
    if year is not None:
        query = query.where(Entitlement.effective_date >= dt.date(_year(year), 1, 1),
                            Entitlement.effective_date <= dt.date(year, 12, 31))
    found: list[Entitlement] = []
    while True:
        batch = list(session.scalars(query.where(Entitlement.id > after)))
        for entitlement in batch:
            if payer is None or any(share["region_code"] == payer for share in entitlement.payers):
                found.append(entitlement)
                if len(found) > limit:
                    return found[:limit], found[limit - 1].id
        if len(batch) < SCAN:
            return found, None
        after = batch[-1].id


# -- budgets ------------------------------------------------------------------------------------------------

def budget_view(budget: AwardBudget) -> dict[str, Any]:
    return {"payer_region": budget.payer_region, "year": budget.year, "amount": budget.amount,
            "actor": budget.actor, "updated_at": budget.updated_at.isoformat()}


def set_budget(session: Session, payer_region: str, year: int, amount: int, *, actor: Actor,
               request_id: str | None = None) -> AwardBudget:
    """Set what a payer region budgets for awards in a year: the payer region's own official or finance bureau.
    Each change is a record of the ``budgets`` chain (key ``<region>/<year>``), checked by ``audit verify``."""
    require_permission(rulebook_in_force(business_today()), actor, SET_BUDGET)
    payer_region = validate_region(payer_region, field="payer_region")
    _year(year)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidInput("预算应为非负整数（元） — amount must be a non-negative integer in yuan", field="amount")
    if actor.role != "admin" and actor.region_code != payer_region:
        raise Forbidden(f"只有付款方{payer_region}本级的官员或财政部门可设定预算 — only an official or the finance "
                        f"bureau of {payer_region} itself may set its budget", rule="payer_region", action=SET_BUDGET)
    now = utc_now()
    budget = _locked_budget(session, payer_region, year)
    if budget is None:
        try:
            with session.begin_nested():
                session.add(AwardBudget(payer_region=payer_region, year=year, amount=amount, actor=actor.id,
                                        updated_at=now))
        except IntegrityError:
            pass  # a concurrent request created it first: lock it and change it after that one
        budget = _locked_budget(session, payer_region, year)
        assert budget is not None
        previous = None
    else:
        previous = budget.amount
    budget.amount, budget.actor, budget.updated_at = amount, actor.id, now
    chains.append(session, BUDGET_CHAIN, f"{payer_region}/{year}", "set",
                  {"payer_region": payer_region, "year": year, "amount": amount, "previous": previous},
                  actor=actor.id, request_id=request_id, now=now)
    return budget


def _locked_budget(session: Session, payer_region: str, year: int) -> AwardBudget | None:
    return session.scalars(select(AwardBudget).where(AwardBudget.payer_region == payer_region,
                                                     AwardBudget.year == year).with_for_update()).one_or_none()


# -- the yearly report ----------------------------------------------------------------------------------------

def _year_shares(session: Session, actor: Actor, year: int, region: str | None,
                 ) -> Iterator[tuple[Entitlement, dict[str, Any], bool, bool]]:
    """``(entitlement, share, owed in the year, paid in the year)`` for every share in scope touching the year:
    firms in the caller's jurisdiction, shares paid by a region within ``region``."""
    prefix = _region(actor, region)
    start = dt.date(_year(year), 1, 1)
    query = (select(Entitlement).where(or_(
        (Entitlement.effective_date >= start) & (Entitlement.effective_date <= dt.date(year, 12, 31)),
        Entitlement.updated_at >= dt.datetime(year, 1, 1, tzinfo=dt.UTC) - dt.timedelta(days=1)))
        .order_by(Entitlement.id).execution_options(yield_per=1000))
    if actor.region_prefix:
        query = query.where(Entitlement.region_code.startswith(actor.region_prefix))
    for entitlement in session.scalars(query):
        owed = entitlement.status in LIVE and entitlement.effective_date.year == year
        for share in entitlement.payers:
            if prefix is not None and not share["region_code"].startswith(prefix):
                continue
            paid = bool(share.get("paid_on")) and str(share["paid_on"]).startswith(f"{year}-")
            if owed or paid:
                yield entitlement, share, owed, paid


def awards_report(session: Session, actor: Actor, *, year: int, region: str | None = None) -> dict[str, Any]:
    """Per pack and payer, and per payer: owed, approved, paid, outstanding, against the payer's budget."""
    documents = {pack.id: pack.document_no for pack in shipped_packs()}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for entitlement, share, owed, paid in _year_shares(session, actor, year, region):
        key = (entitlement.policy_id, share["region_code"])
        row = rows.setdefault(key, {"policy_id": key[0], "document_no": documents.get(key[0]), "payer_region": key[1],
                                    "owed": 0, "approved": 0, "paid": 0, "outstanding": 0})
        amount = int(share["amount"])
        if owed:
            row["owed"] += amount
            row["approved"] += amount if share["status"] == "approved" else 0
            row["outstanding"] += amount if share["status"] in ("entitled", "approved") else 0
        if paid:
            row["paid"] += amount
    budgets = _budgets(session, actor, year, region)
    payers: dict[str, dict[str, Any]] = {}
    for (_, payer), row in sorted(rows.items()):
        row["budget"] = budgets.get(payer)
        total = payers.setdefault(payer, {"payer_region": payer, "owed": 0, "approved": 0, "paid": 0,
                                          "outstanding": 0})
        for name in ("owed", "approved", "paid", "outstanding"):
            total[name] += row[name]
    for payer in budgets:
        payers.setdefault(payer, {"payer_region": payer, "owed": 0, "approved": 0, "paid": 0, "outstanding": 0})
    for payer, total in payers.items():
        total["payer_name"] = region_name(payer)
        total["budget"] = budgets.get(payer)
        total["budget_left"] = None if total["budget"] is None else total["budget"] - total["paid"]
    return {"year": year, "region": region, "items": [rows[key] for key in sorted(rows)],
            "payers": [payers[payer] for payer in sorted(payers)]}


def _budgets(session: Session, actor: Actor, year: int, region: str | None) -> dict[str, int]:
    prefix = _region(actor, region)
    found = {}
    for budget in session.scalars(select(AwardBudget).where(AwardBudget.year == year)):
        if prefix is not None and not budget.payer_region.startswith(prefix):
            continue
        if actor.region_code is not None and not (region_covers(actor.region_code, budget.payer_region)
                                                  or region_covers(budget.payer_region, actor.region_code)):
            continue
        found[budget.payer_region] = budget.amount
    return found


def payout_rows(session: Session, actor: Actor, *, year: int, region: str | None = None,
                ) -> Iterator[Sequence[Any]]:
    """The 拨付清单: one row per share owed or paid in the year — payer, pack, payee (name, USCC, region),
    amount, status and payment."""
    documents = {pack.id: pack.document_no for pack in shipped_packs()}
    shares = sorted(_year_shares(session, actor, year, region),
                    key=lambda item: (item[1]["region_code"], item[0].policy_id, item[0].uscc, item[0].id))
    names: dict[int, str] = {}
    if shares:
        names = {row.id: row.name for row in session.execute(select(Enterprise.id, Enterprise.name).where(
            Enterprise.id.in_({e.enterprise_id for e, *_ in shares})))}
    for number, (entitlement, share, _, _) in enumerate(shares, start=1):
        yield (number, share["region_code"], region_name(share["region_code"]) or "",
               documents.get(entitlement.policy_id, entitlement.policy_id), entitlement.award_id,
               names.get(entitlement.enterprise_id, ""), entitlement.uscc, entitlement.region_code,
               region_name(entitlement.region_code) or "", entitlement.effective_date, int(share["amount"]),
               STATUS_LABELS.get(share["status"], share["status"]), share.get("paid_on") or "",
               share.get("document_no") or "", entitlement.id)
