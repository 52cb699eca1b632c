"""/api/v1/policies — local policy packs (the seeds' awards as data) and officials' changes to them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.presenters import ModelResponse
from api.responses import problems
from api.schemas.policies import AmountIn, AwardOut, PayerOut, PolicyList, PolicyOut, WindowIn
from pipeline.policies import PolicyPack
from pipeline.policies import service as policies

router = APIRouter(prefix="/api/v1/policies", tags=["policies 政策包"], route_class=StrictQueryRoute)
PolicyId = Annotated[str, Path(max_length=64, description="政策包 id — e.g. zhengzhou-2022-36")]
AwardId = Annotated[str, Path(max_length=64, description="奖励 id — e.g. national")]














def policy_out(pack: PolicyPack) -> PolicyOut:
    return PolicyOut(
        id=pack.id, version=pack.version, title=pack.title, document_no=pack.document_no,
        issuing_body=pack.issuing_body, jurisdiction=pack.jurisdiction, level=pack.level,
        in_force_from=pack.in_force_from, in_force_until=pack.in_force_until, first_only=pack.first_only,
        stacking_group=pack.stacking_group, mode=pack.mode, notes=list(pack.notes), content_hash=pack.content_hash,
        awards=[AwardOut(id=a.id, label=a.label, trigger=a.trigger, side_title_kind=a.side_title_kind,
                         amount=a.amount, first_only=a.first_only, ratio=a.ratio, funds_field=a.funds_field,
                         payers=[PayerOut(region_code=p.region_code, percent=p.percent) for p in a.payers])
                for a in pack.awards],
        credit_ceilings=dict(pack.credit_ceilings), whitelist_min_tier=pack.whitelist_min_tier)


@router.get("", response_model=PolicyList, summary="政策包列表 Policy packs", responses=problems(401))
def list_policies(session: SessionDep, actor: CurrentActor) -> PolicyList:
    return PolicyList(items=[policy_out(pack) for pack in policies.current_packs(session)])


@router.get("/{policy_id}", response_model=PolicyOut, summary="政策包 One policy pack",
            responses=problems(401, 404, 422))
def get_policy(policy_id: PolicyId, session: SessionDep, actor: CurrentActor) -> PolicyOut:
    return policy_out(policies.get_pack(session, policy_id))


@router.put(
    "/{policy_id}/awards/{award_id}", response_model=PolicyOut, summary="录入奖励金额 Set an award's amount",
    responses=problems(401, 403, 404, 422),
    description="文件未定的金额由省级或本级官员录入；每次修改生成新版本（新哈希）。Each change is a new pack version; "
                "then `pipeline awards sync` derives what history is owed.",
)
async def put_award_amount(policy_id: PolicyId, award_id: AwardId, payload: AmountIn, session: SessionDep,
                           actor: CurrentActor, idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    pack = policies.set_award_amount(session, policy_id, award_id, payload.amount, actor=actor,
                                     request_id=request_id)
    return idem.finish(session, ModelResponse(policy_out(pack)))


@router.put(
    "/{policy_id}", response_model=PolicyOut, summary="设定失效日期 Set the end of a pack's window",
    responses=problems(401, 403, 404, 422),
)
async def put_policy(policy_id: PolicyId, payload: WindowIn, session: SessionDep, actor: CurrentActor,
                     idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    pack = policies.set_in_force_until(session, policy_id, payload.in_force_until, actor=actor,
                                       request_id=request_id)
    return idem.finish(session, ModelResponse(policy_out(pack)))
