"""Reading the ledger: one firm's entitlements with the reasons its other achievements earned nothing, one
entitlement's chain, and re-deriving what history recorded before a pack existed (``pipeline awards sync``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.awards import ledger
from pipeline.awards.service import Settle, entitle, evaluate, manual_entitlement, may_pay_here, side_title_kind
from pipeline.dates import business_today
from pipeline.errors import Forbidden, NotFound
from pipeline.firms import repository
from pipeline.history.replay import voided_seqs
from pipeline.lifecycle.machine import RECOGNITION_TIER
from pipeline.models import Enterprise, Entitlement, EntitlementRecord, Event
from pipeline.policies.service import current_packs, get_pack
from pipeline.rulebooks import rulebook_in_force

CREATE = "create_award"
SYNC_CHUNK = 1000


def _achievements(events: list[Event]) -> list[Event]:
    voided = voided_seqs(events)
    return [e for e in events if e.seq not in voided
            and (e.trigger in RECOGNITION_TIER or side_title_kind(e) is not None)]


def firm_awards(session: Session, uscc: str, actor: Actor) -> dict[str, Any]:
    """``{items, unearned}``: every entitlement of the firm (cancelled ones included), and for each of its
    achievements that earned nothing under a pack covering it, why."""
    enterprise = repository.get_enterprise(session, uscc, actor)
    items = list(session.scalars(select(Entitlement).where(Entitlement.uscc == enterprise.uscc)
                                 .order_by(Entitlement.id)))
    packs = current_packs(session)
    unearned: list[dict[str, Any]] = []
    for event in _achievements(repository.history(session, enterprise)):
        _, refused = evaluate(packs, enterprise.region_code, event, enterprise.recognitions)
        unearned.extend(reason.as_dict() for reason in refused)
    return {"items": [ledger.view(e) for e in items], "unearned": unearned}


def get_entitlement(session: Session, entitlement_id: int, actor: Actor) -> Entitlement:
    """An entitlement the actor may see: its firm in the actor's jurisdiction, or one of its shares paid by a
    region the actor covers (a finance bureau sees what it pays)."""
    entitlement = session.get(Entitlement, entitlement_id)
    if entitlement is None or not (actor.covers(entitlement.region_code) or any(
            actor.covers(share["region_code"]) for share in entitlement.payers)):
        raise NotFound(f"未找到奖励应享记录{entitlement_id} — no entitlement {entitlement_id} in your jurisdiction")
    return entitlement


def history(session: Session, entitlement_id: int, actor: Actor) -> list[EntitlementRecord]:
    return ledger.records(session, get_entitlement(session, entitlement_id, actor).id)


def _firms(session: Session, uscc: str | None, usccs: Collection[str] | None) -> Iterator[Enterprise]:
    query = select(Enterprise).order_by(Enterprise.id)
    if uscc is not None:
        query = query.where(Enterprise.uscc == uscc)
    if usccs is None:
        yield from session.scalars(query)
        return
    codes = sorted(usccs)
    for start in range(0, len(codes), SYNC_CHUNK):
        yield from session.scalars(query.where(Enterprise.uscc.in_(codes[start:start + SYNC_CHUNK])))


@dataclass
class SyncReport:
    applied: bool
    firms_checked: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "firms_checked": self.firms_checked, "created": len(self.created),
                "items": self.created}


def sync(session: Session, *, actor: Actor, apply: bool, settle: Settle = "owed",
         uscc: str | None = None, usccs: Collection[str] | None = None) -> SyncReport:
    """Derive what every recorded achievement is owed under the packs now in force and has not been derived
    yet (history recorded before a pack existed, or before an official entered an amount). Idempotent: a second
    run creates nothing. A dry run (``apply=False``) writes inside a savepoint and rolls it back."""
    report = SyncReport(applied=apply)
    if settle == "none":
        return report
    savepoint = session.begin_nested()
    try:
        for enterprise in _firms(session, uscc, usccs):
            report.firms_checked += 1
            if not may_pay_here(enterprise.region_code):
                continue  # no pack covers the firm: nothing to derive, no history to read
            for event in _achievements(repository.history(session, enterprise)):
                for entitlement in entitle(session, enterprise, event, enterprise.recognitions, actor=actor.id,
                                           settle=settle):
                    report.created.append(ledger.view(entitlement))
    finally:
        if apply:
            savepoint.commit()
        else:
            savepoint.rollback()
    return report


def create_manual(session: Session, uscc: str, policy_id: str, award_id: str, *, effective_date: dt.date,
                  basis: str, evidence: dict[str, Any], actor: Actor, request_id: str | None = None) -> Entitlement:
    """A manual entitlement (``POST /api/v1/awards``): an official of the firm's jurisdiction, the firm's row
    locked so that stacking sees every entitlement of its group."""
    require_permission(rulebook_in_force(business_today()), actor, CREATE)
    enterprise = repository.get_enterprise(session, uscc, actor, for_update=True)
    if actor.role not in ("official", "admin"):
        raise Forbidden("人工应享记录须由官员录入 — only an official enters a manual entitlement", action=CREATE)
    pack = get_pack(session, policy_id)
    award = pack.award(award_id)
    if award is None:
        raise NotFound(f"政策包{policy_id}没有奖励{award_id} — pack {policy_id} has no award {award_id!r}; awards: "
                       f"{', '.join(a.id for a in pack.awards)}")
    return manual_entitlement(session, enterprise, pack, award, effective_date=effective_date, basis=basis.strip(),
                              evidence=evidence, actor=actor.id, request_id=request_id)
