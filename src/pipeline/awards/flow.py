"""An entitlement's way to the bank: approved, paid, cancelled, clawed back and settled — share by share.

Each share of ``payers`` has its own ``status`` (``entitled → approved → paid``, ``cancelled``,
``clawback_due → settled``), ``paid_on`` and ``document_no``; the entitlement's status follows from its shares
(``partially_paid`` until every share is paid). Who may act is rulebook data (``approve_award``, ``pay_award``,
``cancel_award``, ``settle_award``), narrowed by region: a share is approved by an official at the level of its
payer region or above, and paid by the ``finance`` principal of exactly that region. Every change locks the
entitlement's row and appends a record to its own chain with the actor, the time, the evidence and the request.
审批、拨付、取消、追回：按付款方份额逐一记录，留痕可审计。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.awards import ledger
from pipeline.awards.service import status_of
from pipeline.dates import business_today
from pipeline.errors import Forbidden, IllegalTransition, InvalidInput, NotFound, PipelineError
from pipeline.identifiers import region_level
from pipeline.models import Entitlement
from pipeline.rulebooks import rulebook_in_force

RANK = {"district": 0, "city": 1, "province": 2}
APPROVE, PAY, CANCEL, SETTLE = "approve_award", "pay_award", "cancel_award", "settle_award"


def _locked(session: Session, entitlement_id: int, actor: Actor) -> Entitlement:
    """The entitlement, its row locked (``FOR UPDATE``), if the actor may see it (else 404, as for reads)."""
    entitlement = session.scalars(select(Entitlement).where(Entitlement.id == entitlement_id)
                                  .with_for_update()).one_or_none()
    if entitlement is None or not (actor.covers(entitlement.region_code) or any(
            actor.covers(share["region_code"]) for share in entitlement.payers)):
        raise NotFound(f"未找到奖励应享记录{entitlement_id} — no entitlement {entitlement_id} in your jurisdiction")
    return entitlement


def _illegal(entitlement: Entitlement, action: str, why: str) -> IllegalTransition:
    return IllegalTransition(f"奖励应享{entitlement.id}当前为{entitlement.status}，不能{why} — entitlement "
                             f"{entitlement.id} is {entitlement.status}: cannot {action}",
                             current_status=entitlement.status, action=action)


def may_approve(actor: Actor, payer_region: str) -> bool:
    """An official whose jurisdiction covers the payer region, at its level or above (or an administrator)."""
    if actor.role == "admin":
        return True
    return (actor.role == "official" and actor.level in RANK and actor.covers(payer_region)
            and RANK[actor.level] >= RANK[region_level(payer_region)])


def _change(session: Session, entitlement: Entitlement, shares: list[dict[str, Any]], action: str, *,
            actor: Actor, changed: list[str], reason: str | None, evidence: dict[str, Any] | None,
            request_id: str | None, **details: Any) -> Entitlement:
    entitlement.payers = shares
    entitlement.status = status_of(shares, entitlement.status)
    change = {"shares": changed, **details, "evidence": dict(evidence or {})}
    ledger.append(session, entitlement, action, actor=actor.id, reason=reason, extra={"change": change},
                  request_id=request_id)
    session.flush()
    return entitlement


def approve(session: Session, entitlement_id: int, *, actor: Actor, reason: str | None = None,
            evidence: dict[str, Any] | None = None, request_id: str | None = None) -> Entitlement:
    """Approve every share awaiting approval that the actor may approve."""
    require_permission(rulebook_in_force(business_today()), actor, APPROVE)
    entitlement = _locked(session, entitlement_id, actor)
    shares = [dict(share) for share in entitlement.payers]
    waiting = [share for share in shares if share["status"] == "entitled"]
    if not waiting:
        raise _illegal(entitlement, "approve", "审批（没有待审批的份额）")
    mine = [share for share in waiting if may_approve(actor, share["region_code"])]
    if not mine:
        regions = ", ".join(share["region_code"] for share in waiting)
        raise Forbidden(f"须由付款方区划（{regions}）同级或上级官员审批 — only an official at the level of the payer "
                        f"region ({regions}) or above, whose jurisdiction covers it, may approve",
                        rule="payer_level", action=APPROVE)
    for share in mine:
        share["status"] = "approved"
    return _change(session, entitlement, shares, "approve", actor=actor, changed=[s["region_code"] for s in mine],
                   reason=reason, evidence=evidence, request_id=request_id)


def pay(session: Session, entitlement_id: int, *, paid_on: dt.date, document_no: str, actor: Actor,
        evidence: dict[str, Any] | None = None, request_id: str | None = None) -> Entitlement:
    """Record the actor's own share paid (a ``finance`` principal pays the share of exactly its region)."""
    require_permission(rulebook_in_force(business_today()), actor, PAY)
    if paid_on > business_today():
        raise InvalidInput(f"拨付日期{paid_on}晚于今天 — paid_on is in the future", field="paid_on")
    if not document_no.strip():
        raise InvalidInput("拨付文号不能为空 — document_no is required", field="document_no")
    entitlement = _locked(session, entitlement_id, actor)
    shares = [dict(share) for share in entitlement.payers]
    own = shares if actor.role == "admin" else [s for s in shares if s["region_code"] == actor.region_code]
    if not own:
        raise Forbidden(f"您（{actor.region_code}）不是该奖励的付款方 — your region {actor.region_code} pays no share "
                        f"of entitlement {entitlement.id}; payers: "
                        f"{', '.join(s['region_code'] for s in shares) or 'none'}", rule="payer_region", action=PAY)
    payable = [share for share in own if share["status"] == "approved"]
    if not payable:
        states = ", ".join(f"{s['region_code']}: {s['status']}" for s in own)
        raise _illegal(entitlement, "pay", f"拨付（份额状态：{states}，须先审批） — shares: {states}; only an "
                                           f"approved share is paid")
    for share in payable:
        share.update(status="paid", paid_on=paid_on.isoformat(), document_no=document_no.strip())
    return _change(session, entitlement, shares, "pay", actor=actor, changed=[s["region_code"] for s in payable],
                   reason=None, evidence=evidence, request_id=request_id, paid_on=paid_on.isoformat(),
                   document_no=document_no.strip())


def _official_of_firm(actor: Actor, entitlement: Entitlement, action: str) -> None:
    if actor.role != "admin" and not actor.covers(entitlement.region_code):
        raise Forbidden(f"须由企业所在辖区官员操作 — only an official whose jurisdiction covers the firm's region "
                        f"{entitlement.region_code} may {action.removesuffix('_award')} it", rule="jurisdiction",
                        action=action)


def cancel(session: Session, entitlement_id: int, *, reason: str, actor: Actor,
           evidence: dict[str, Any] | None = None, request_id: str | None = None) -> Entitlement:
    """Cancel an entitlement none of whose shares is paid yet (a paid one is clawed back, not cancelled)."""
    require_permission(rulebook_in_force(business_today()), actor, CANCEL)
    if not reason.strip():
        raise InvalidInput("取消须说明理由 — a reason is required", field="reason")
    entitlement = _locked(session, entitlement_id, actor)
    _official_of_firm(actor, entitlement, CANCEL)
    shares = [dict(share) for share in entitlement.payers]
    if entitlement.status not in ("entitled", "approved") or any(
            share["status"] not in ("entitled", "approved") for share in shares):
        raise _illegal(entitlement, "cancel", "取消（已拨付的份额只能追回）")
    for share in shares:
        share["status"] = "cancelled"
    entitlement.status = "cancelled"
    return _change(session, entitlement, shares, "cancel", actor=actor, changed=[s["region_code"] for s in shares],
                   reason=reason.strip(), evidence=evidence, request_id=request_id)


def settle(session: Session, entitlement_id: int, *, reason: str, actor: Actor, document_no: str | None = None,
           evidence: dict[str, Any] | None = None, request_id: str | None = None) -> Entitlement:
    """Record the clawback of every ``clawback_due`` share as done (追回完毕)."""
    require_permission(rulebook_in_force(business_today()), actor, SETTLE)
    if not reason.strip():
        raise InvalidInput("须说明追回情况 — a reason is required", field="reason")
    entitlement = _locked(session, entitlement_id, actor)
    _official_of_firm(actor, entitlement, SETTLE)
    shares = [dict(share) for share in entitlement.payers]
    due = [share for share in shares if share["status"] == "clawback_due"]
    if not due:
        raise _illegal(entitlement, "settle", "结清追回（没有待追回的份额）")
    for share in due:
        share["status"] = "settled"
    return _change(session, entitlement, shares, "settle", actor=actor, changed=[s["region_code"] for s in due],
                   reason=reason.strip(), evidence=evidence, request_id=request_id, document_no=document_no)


@dataclass(frozen=True)
class BatchFailure:
    id: int
    error: PipelineError


class BatchRefused(PipelineError):
    """A batch approval with at least one refused item: nothing of it is written."""

    title = "Batch refused (批量操作未执行)"

    def __init__(self, failures: Sequence[BatchFailure], total: int) -> None:
        super().__init__(f"{len(failures)}/{total}项不能审批，全部未执行 — {len(failures)} of {total} entitlements "
                         f"cannot be approved (ids {', '.join(str(f.id) for f in failures)}); nothing was written")
        self.failures = list(failures)


def approve_many(session: Session, ids: Sequence[int], *, actor: Actor, reason: str | None = None,
                 request_id: str | None = None) -> list[Entitlement]:
    """Approve every listed entitlement, all or nothing (each in a SAVEPOINT; any refusal refuses the batch)."""
    if len(set(ids)) != len(ids):
        raise InvalidInput("ids 有重复 — ids repeat an entitlement", field="ids")
    done: list[Entitlement] = []
    failures: list[BatchFailure] = []
    for entitlement_id in ids:
        try:
            with session.begin_nested():
                done.append(approve(session, entitlement_id, actor=actor, reason=reason, request_id=request_id))
        except PipelineError as exc:
            failures.append(BatchFailure(entitlement_id, exc))
    if failures:
        raise BatchRefused(failures, len(ids))
    return done
