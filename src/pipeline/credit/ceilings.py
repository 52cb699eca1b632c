"""What a firm qualified for on a date: its unsecured credit ceiling and whether it is on the banks' white-list.

The ceiling is the one the policy pack in force on ``as_of`` (``[credit] ceilings``, 郑工信企业〔2025〕4号)
gives the firm's highest title valid that day; the white-list is the pack rule ``[whitelist] min_tier``
(郑政办〔2022〕36号: 省级 and above). Titles held on a date as recorded by ``known_at`` come from
:func:`pipeline.history.timetravel.firm_at` — the same replay the point-in-time routes use. With no pack in
force the ceiling is ``None``; a revoked, removed, reserve or lapsed firm gets 0. Every answer names the packs
(id and content hash) it used, and ``basis`` says why in words.
信用额度与白名单：按贷款签订日有效的最高称号和当日有效的政策包计算，并记录所依据的政策包及其哈希。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.errors import Forbidden, InvalidInput
from pipeline.history import timetravel
from pipeline.identifiers import region_name
from pipeline.lifecycle.guards import PlainTitle
from pipeline.models import Enterprise, Loan
from pipeline.policies import PolicyPack
from pipeline.policies.service import current_packs
from pipeline.rulebooks import TITLE_TIERS, rulebook_in_force

READERS = ("official", "auditor", "integrator", "admin")
ZERO_STATES = ("revoked", "removed", "reserve")


def require_reader(actor: Actor) -> None:
    """Officials, auditors and integrators (in their jurisdiction, checked with the firm) and admins."""
    if actor.role not in READERS:
        raise Forbidden(f"授信信息仅供官员、审计、接入系统查阅 — credit is readable by {', '.join(READERS)}, "
                        f"not {actor.role}", rule="credit_readers", action="read_credit")


def yuan(amount: int) -> str:
    """Amounts in words the way the documents write them (万元 when whole)."""
    return f"{amount // 10_000}万元" if amount % 10_000 == 0 else f"{amount}元"


@dataclass(frozen=True)
class PolicyUse:
    id: str
    hash: str
    used_for: str
    """``ceiling`` or ``whitelist``."""

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "hash": self.hash, "used_for": self.used_for}


@dataclass
class Qualification:
    """What the titles held on ``as_of`` qualify a firm for, before loans are counted."""

    highest_title: str | None
    ceiling_yuan: int | None
    whitelisted: bool
    policies: list[PolicyUse] = field(default_factory=list)
    basis: list[str] = field(default_factory=list)


def highest_tier(titles: Sequence[PlainTitle]) -> PlainTitle | None:
    tiers = [t for t in titles if t.tier in TITLE_TIERS]
    return max(tiers, key=lambda t: (TITLE_TIERS.index(t.tier), t.valid_until)) if tiers else None


def _ceiling_pack(packs: Sequence[PolicyPack], region_code: str, day: dt.date) -> PolicyPack | None:
    """The pack in force with credit ceilings covering the region; the most local one if several."""
    found = [p for p in packs if p.credit_ceilings and p.covers(region_code) and p.in_force_on(day)]
    return max(found, key=lambda p: (len(p.jurisdiction.rstrip("0")), p.id)) if found else None


def _whitelist_pack(packs: Sequence[PolicyPack], region_code: str, day: dt.date) -> PolicyPack | None:
    found = [p for p in packs if p.whitelist_min_tier and p.covers(region_code) and p.in_force_on(day)]
    return min(found, key=lambda p: (TITLE_TIERS.index(p.whitelist_min_tier or ""), p.id)) if found else None


def qualify(packs: Sequence[PolicyPack], region_code: str, state: str | None, titles: Sequence[PlainTitle],
            day: dt.date) -> Qualification:
    """Pure: the ceiling and white-listing of a firm in ``region_code``, in ``state`` with ``titles`` valid on
    ``day``, under ``packs``."""
    book = rulebook_in_force(day)
    top = highest_tier(titles)
    label = book.label(top.tier) if top else None
    answer = Qualification(highest_title=top.tier if top else None, ceiling_yuan=None, whitelisted=False)
    if state is None:
        answer.basis.append(f"{day}尚未纳入培育库 — not enrolled on {day}")
    elif state in ZERO_STATES:
        answer.basis.append(f"{day}企业状态为“{book.label(state)}”，不享受授信上限 — {state} on {day}: no ceiling")
    elif top is None:
        answer.basis.append(f"{day}企业所持称号均已过有效期（已失效） — every title had lapsed by {day}")
    else:
        answer.basis.append(f"{day}有效的最高称号为“{label}”（有效期至{top.valid_until}） — highest title "
                            f"valid on {day}: {top.tier}")
    titled = state is not None and state not in ZERO_STATES and top is not None
    pack = _ceiling_pack(packs, region_code, day)
    if pack is None:
        place = f"{region_name(region_code)}（{region_code}）" if region_name(region_code) else region_code
        answer.basis.append(f"{day}无适用于{place}的授信政策 — no credit policy in force for this region, "
                            f"so no ceiling")
    else:
        answer.policies.append(PolicyUse(pack.id, pack.content_hash, "ceiling"))
        if not titled or top is None:
            answer.ceiling_yuan = 0
            answer.basis.append(f"依{pack.document_no}，授信上限为0 — ceiling 0 under {pack.id}")
        else:
            amount = pack.credit_ceilings.get(top.tier)
            answer.ceiling_yuan = amount if amount is not None else 0
            answer.basis.append(f"依{pack.document_no}，“{label}”无抵押“专精特新贷”授信上限"
                                f"{yuan(answer.ceiling_yuan)} — ceiling under {pack.id}")
    rule = _whitelist_pack(packs, region_code, day)
    if rule is not None and rule.whitelist_min_tier:
        answer.policies.append(PolicyUse(rule.id, rule.content_hash, "whitelist"))
        floor = TITLE_TIERS.index(rule.whitelist_min_tier)
        answer.whitelisted = titled and top is not None and TITLE_TIERS.index(top.tier) >= floor
        minimum = book.label(rule.whitelist_min_tier)
        answer.basis.append(
            f"依{rule.document_no}，{'列入' if answer.whitelisted else '未列入'}银行“白名单”"
            f"（{minimum}及以上，即报即审） — "
            f"{'on' if answer.whitelisted else 'not on'} the white-list of {rule.id}")
    return answer


@dataclass
class CreditAnswer:
    uscc: str
    as_of: dt.date
    known_at: dt.datetime | None
    highest_title: str | None
    ceiling_yuan: int | None
    whitelisted: bool
    policies: list[PolicyUse]
    outstanding_yuan: int
    headroom_yuan: int | None
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "as_of": self.as_of.isoformat(), "highest_title": self.highest_title,
                "ceiling_yuan": self.ceiling_yuan, "whitelisted": self.whitelisted,
                "policies": [p.as_dict() for p in self.policies], "outstanding_yuan": self.outstanding_yuan,
                "headroom_yuan": self.headroom_yuan, "basis": self.basis}


def outstanding_on(loan: Loan, day: dt.date, known_at: dt.datetime | None = None) -> int:
    """What is still owed on ``loan`` at the end of ``day`` (0 before it was signed)."""
    if loan.signed_on > day or (known_at is not None and loan.recorded_at > known_at):
        return 0
    repaid = sum(int(r["amount_yuan"]) for r in loan.repayments
                 if dt.date.fromisoformat(r["repaid_on"]) <= day
                 and (known_at is None or dt.datetime.fromisoformat(r["recorded_at"]) <= known_at))
    return max(loan.amount_yuan - repaid, 0)


def unsecured_outstanding(session: Session, uscc: str, day: dt.date, known_at: dt.datetime | None = None,
                          *, excluding: int | None = None) -> int:
    """Every bank's unsecured loans to the firm not repaid on ``day`` (a loan past maturity stays owed)."""
    query = select(Loan).where(Loan.uscc == uscc, Loan.secured.is_(False), Loan.signed_on <= day)
    if excluding is not None:
        query = query.where(Loan.id != excluding)
    return sum(outstanding_on(loan, day, known_at) for loan in session.scalars(query))


def credit(session: Session, enterprise: Enterprise, *, as_of: dt.date,
           known_at: dt.datetime | None = None) -> CreditAnswer:
    """The credit answer for one firm on ``as_of``, as recorded by ``known_at`` (default now)."""
    firm = timetravel.firm_at(session, enterprise, as_of=as_of, known_at=known_at)
    packs = current_packs(session, known_at=known_at)
    found = qualify(packs, enterprise.region_code, firm.state, firm.titles_on(as_of), as_of)
    owed = unsecured_outstanding(session, enterprise.uscc, as_of, known_at)
    headroom = None if found.ceiling_yuan is None else max(found.ceiling_yuan - owed, 0)
    basis = [*found.basis, f"{as_of}未还无抵押贷款余额{yuan(owed)} — unsecured loans outstanding: {owed} yuan"]
    return CreditAnswer(enterprise.uscc, as_of, known_at, found.highest_title, found.ceiling_yuan, found.whitelisted,
                        found.policies, owed, headroom, "；".join(basis))


def check_tier(tier: str | None) -> None:
    if tier is not None and tier not in TITLE_TIERS:
        raise InvalidInput(f"未知称号层级 — unknown tier {tier!r}; tiers: {', '.join(TITLE_TIERS)}", field="tier")


@dataclass
class WhitelistEntry:
    enterprise_id: int
    uscc: str
    name: str
    region_code: str
    highest_title: str
    valid_until: dt.date
    ceiling_yuan: int | None
    policies: list[PolicyUse]


def whitelist(session: Session, actor: Actor, *, as_of: dt.date, region: str | None = None, tier: str | None = None,
              after_id: int = 0, limit: int = 100) -> tuple[list[WhitelistEntry], bool]:
    """White-listed firms on ``as_of`` (of highest title ``tier``) after ``after_id``, and whether more follow.
    Reads the roster of titled firms (:func:`pipeline.history.timetravel.roster`) page by page."""
    require_reader(actor)
    check_tier(tier)
    packs = current_packs(session)
    found: list[WhitelistEntry] = []
    while True:
        entries, more = timetravel.roster(session, actor, as_of=as_of, region=region, after_id=after_id, limit=200)
        for entry in entries:
            answer = qualify(packs, entry.region_code, entry.highest_tier, entry.titles, as_of)
            if not answer.whitelisted or (tier is not None and answer.highest_title != tier):
                continue
            if len(found) == limit:
                return found, True
            top = highest_tier(entry.titles)
            assert top is not None  # white-listed firms hold a title
            found.append(WhitelistEntry(entry.enterprise_id, entry.uscc, entry.name, entry.region_code, top.tier,
                                        top.valid_until, answer.ceiling_yuan, answer.policies))
        if not more or not entries:
            return found, False
        after_id = entries[-1].enterprise_id
