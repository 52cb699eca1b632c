"""An entitlement's own chain: append-only records, hash-chained with the recipe of
:mod:`pipeline.lifecycle.chain` (``sha256(prev_hash + canonical_json(fields))``), seq from 1.

Each record carries the entitlement's full view after the change (amounts, offsets, payers and their
shares' status), so the chain alone tells what was owed, approved and paid, by whom and when.
奖励应享记录自成哈希链，只增不改。
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.dates import utc_now
from pipeline.history import ledger
from pipeline.lifecycle.chain import GENESIS_HASH, chain_hash, format_timestamp
from pipeline.models import Entitlement, EntitlementRecord

HASHED_FIELDS: tuple[str, ...] = ("entitlement_id", "seq", "action", "status", "recorded_at", "actor", "reason",
                                  "details", "request_id")


def view(entitlement: Any) -> dict[str, Any]:
    """The entitlement as its records and the API show it (an :class:`Entitlement`, or a derived row not yet
    written: the same attributes)."""
    return {
        "id": entitlement.id, "uscc": entitlement.uscc, "region_code": entitlement.region_code,
        "policy_id": entitlement.policy_id, "policy_version": entitlement.policy_version,
        "policy_hash": entitlement.policy_hash, "award_id": entitlement.award_id,
        "stacking_group": entitlement.stacking_group,
        "achievement": achievement(entitlement),
        "gross_amount": entitlement.gross_amount, "offsets": list(entitlement.offsets),
        "net_amount": entitlement.net_amount, "superseded_by": entitlement.superseded_by,
        "payers": [dict(share) for share in entitlement.payers], "status": entitlement.status,
        "manual": entitlement.manual, "basis": entitlement.basis, "evidence": dict(entitlement.evidence),
        "settled_outside_system": entitlement.settled_outside_system,
    }


def achievement(entitlement: Any) -> dict[str, Any]:
    kind = {"side_title_kind": entitlement.side_title_kind} if entitlement.side_title_kind else {
        "trigger": entitlement.trigger}
    return {"seq": entitlement.achievement_seq, **kind, "effective_date": entitlement.effective_date.isoformat()}


def record_fields(record: EntitlementRecord) -> dict[str, Any]:
    fields = {name: getattr(record, name) for name in HASHED_FIELDS}
    fields["recorded_at"] = format_timestamp(record.recorded_at)
    return fields


def creation_record(entitlement: Any, *, actor: str, request_id: str | None, now: dt.datetime) -> dict[str, Any]:
    """The columns of a new entitlement's first record (``create``, seq 1, sealed on the genesis hash), from
    its row's attributes (an :class:`Entitlement` or a derived row not yet written)."""
    record = {"entitlement_id": entitlement.id, "seq": 1, "action": "create", "status": entitlement.status,
              "recorded_at": now, "actor": actor, "reason": None, "details": view(entitlement),
              "request_id": request_id, "prev_hash": GENESIS_HASH}
    record["hash"] = chain_hash(GENESIS_HASH, {**{name: record[name] for name in HASHED_FIELDS},
                                               "recorded_at": format_timestamp(now)})
    return record


def append(session: Session, entitlement: Entitlement, action: str, *, actor: str, reason: str | None = None,
           extra: dict[str, Any] | None = None, request_id: str | None = None,
           previous_hash: str | None = None, now: dt.datetime | None = None) -> EntitlementRecord:
    """Seal and add the entitlement's next record (its row must have an id: flushed)."""
    if previous_hash is None:
        previous_hash = GENESIS_HASH if entitlement.last_seq == 0 else session.scalars(
            select(EntitlementRecord.hash).where(EntitlementRecord.entitlement_id == entitlement.id,
                                                 EntitlementRecord.seq == entitlement.last_seq)).one()
    now = now or utc_now()
    entitlement.last_seq += 1
    entitlement.updated_at = now
    record = EntitlementRecord(
        entitlement_id=entitlement.id, seq=entitlement.last_seq, action=action, status=entitlement.status,
        recorded_at=now, actor=actor, reason=reason, details={**view(entitlement), **(extra or {})},
        request_id=request_id, prev_hash=previous_hash)
    record.hash = chain_hash(previous_hash, record_fields(record))
    session.add(record)
    return record


def first_record(session: Session, entitlement_id: int) -> EntitlementRecord:
    """The entitlement's ``create`` record: its view as derived."""
    return session.scalars(select(EntitlementRecord).where(EntitlementRecord.entitlement_id == entitlement_id,
                                                           EntitlementRecord.seq == 1)).one()


def records(session: Session, entitlement_id: int) -> list[EntitlementRecord]:
    return list(session.scalars(select(EntitlementRecord).where(EntitlementRecord.entitlement_id == entitlement_id)
                                .order_by(EntitlementRecord.seq)))


def check(entitlement_id: int, chain: list[EntitlementRecord], last_seq: int) -> list[tuple[int, str]]:
    """Problems of one entitlement's chain: ``(seq, problem)``."""
    problems = ledger.check(chain, record_fields, ("奖励记录", "award record"))
    if (chain[-1].seq if chain else 0) != last_seq:
        problems.append((last_seq, "奖励记录缺失 — award records missing at the end of the chain"))
    return problems


def verify_firms(session: Session, usccs: list[str]) -> list[tuple[str, int, str]]:
    """``(uscc, seq, problem)`` for every broken record chain of these firms' entitlements (``audit verify``)."""
    found: list[tuple[str, int, str]] = []
    entitlements = list(session.scalars(select(Entitlement).where(Entitlement.uscc.in_(usccs))))
    if not entitlements:
        return found
    chains: dict[int, list[EntitlementRecord]] = {e.id: [] for e in entitlements}
    for record in session.scalars(select(EntitlementRecord).where(EntitlementRecord.entitlement_id.in_(list(chains)))
                                  .order_by(EntitlementRecord.entitlement_id, EntitlementRecord.seq)):
        chains[record.entitlement_id].append(record)
    for entitlement in entitlements:
        found.extend((entitlement.uscc, seq, f"奖励应享{entitlement.id}：{problem} (entitlement {entitlement.id})")
                     for seq, problem in check(entitlement.id, chains[entitlement.id], entitlement.last_seq))
    return found
