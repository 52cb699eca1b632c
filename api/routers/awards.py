"""/api/v1/awards — entitlements (奖励应享) and their own chains; a firm's awards under /api/v1/enterprises."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import CurrentActor, SessionDep, StrictQuery
from api.responses import problems
from api.schemas.awards import AwardHistoryOut, AwardRecordOut, FirmAwardsOut
from pipeline.awards import ledger, reads

router = APIRouter(tags=["awards 奖励"], dependencies=[StrictQuery])
EntitlementId = Annotated[int, Path(ge=1, le=2**63 - 1, description="奖励应享记录 id")]
Uscc = Annotated[str, Path(max_length=40, description="统一社会信用代码")]








@router.get("/api/v1/enterprises/{uscc}/awards", response_model=FirmAwardsOut, summary="企业奖励 A firm's awards",
            responses=problems(401, 404, 422),
            description="全部应享记录（含已取消）及未获奖励的原因。Every entitlement of the firm, cancelled ones "
                        "included, and `unearned`: why an achievement earned nothing.")
def firm_awards(uscc: Uscc, session: SessionDep, actor: CurrentActor) -> FirmAwardsOut:
    return FirmAwardsOut(**reads.firm_awards(session, uscc, actor))


@router.get("/api/v1/awards/{entitlement_id}", summary="奖励应享记录 One entitlement",
            responses=problems(401, 404, 422))
def get_award(entitlement_id: EntitlementId, session: SessionDep, actor: CurrentActor) -> dict[str, Any]:
    return ledger.view(reads.get_entitlement(session, entitlement_id, actor))


@router.get("/api/v1/awards/{entitlement_id}/history", response_model=AwardHistoryOut,
            summary="奖励记录链 An entitlement's chain", responses=problems(401, 404, 422),
            description="只增不改、哈希链接的记录（seq 从 1）。Append-only, hash-chained records, seq from 1; "
                        "`hash = sha256(prev_hash + canonical_json(fields))` as for events.")
def award_history(entitlement_id: EntitlementId, session: SessionDep, actor: CurrentActor) -> AwardHistoryOut:
    return AwardHistoryOut(items=[AwardRecordOut(**{**ledger.record_fields(r), "prev_hash": r.prev_hash,
                                                    "hash": r.hash})
                                  for r in reads.history(session, entitlement_id, actor)])
