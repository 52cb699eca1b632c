"""The city's view of credit on a date: per tier, firms, white-listed, firms with a loan, loans, amount
outstanding and the share of the ceilings used — for officials and auditors, in their jurisdiction.

Firms are counted by their highest title valid on ``as_of`` (the roster of :mod:`pipeline.history.timetravel`);
loans by whether anything was still owed on them that day. Loans to firms holding no title that day are counted
under ``untitled``.
信用报表：按层级统计企业数、白名单、有贷款企业、贷款笔数、余额及授信上限使用比例。
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor, in_jurisdiction
from pipeline.credit.ceilings import outstanding_on, qualify
from pipeline.errors import Forbidden
from pipeline.history import timetravel
from pipeline.models import Enterprise, Loan
from pipeline.policies.service import current_packs
from pipeline.rulebooks import TITLE_TIERS

UNTITLED = "untitled"
REPORT_READERS = ("official", "auditor", "admin")
PAGE = 500


@dataclass
class TierRow:
    tier: str
    firms: int = 0
    whitelisted: int = 0
    loans: int = 0
    outstanding_yuan: int = 0
    unsecured_yuan: int = 0
    ceilings_yuan: int = 0
    borrowers: set[str] = field(default_factory=set)

    @property
    def ceiling_used(self) -> float | None:
        return round(self.unsecured_yuan / self.ceilings_yuan, 4) if self.ceilings_yuan else None


def report(session: Session, actor: Actor, *, as_of: dt.date, region: str | None = None) -> list[TierRow]:
    if actor.role not in REPORT_READERS:
        raise Forbidden(f"信用报表仅供官员和审计查阅 — the credit report is for officials and auditors, not "
                        f"{actor.role}", rule="credit_report_readers", action="read_credit_report")
    packs = current_packs(session)
    rows = {tier: TierRow(tier) for tier in (*TITLE_TIERS, UNTITLED)}
    tier_of: dict[str, str] = {}
    after = 0
    while True:
        entries, more = timetravel.roster(session, actor, as_of=as_of, region=region, after_id=after, limit=PAGE)
        for entry in entries:
            answer = qualify(packs, entry.region_code, entry.highest_tier, entry.titles, as_of)
            row = rows[answer.highest_title or UNTITLED]
            row.firms += 1
            row.whitelisted += answer.whitelisted
            row.ceilings_yuan += answer.ceiling_yuan or 0
            tier_of[entry.uscc] = row.tier
        if not more or not entries:
            break
        after = entries[-1].enterprise_id
    query = (select(Loan).join(Enterprise, Enterprise.id == Loan.enterprise_id)
             .where(Loan.signed_on <= as_of).order_by(Loan.id))
    for loan in session.scalars(in_jurisdiction(query, actor, region)):
        owed = outstanding_on(loan, as_of)
        if owed == 0:
            continue
        row = rows[tier_of.get(loan.uscc, UNTITLED)]
        row.loans += 1
        row.outstanding_yuan += owed
        row.unsecured_yuan += 0 if loan.secured else owed
        row.borrowers.add(loan.uscc)
    return list(rows.values())
