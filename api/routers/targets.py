"""/api/v1/targets and /api/v1/quotas — a region's yearly targets, their progress, and recommendation quotas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.presenters import ModelResponse
from api.replica import ReadSessionDep
from api.responses import problems
from api.schemas.audit import AwareTimestamp, as_utc
from api.schemas.targets import (
    ProgressOut,
    QuotaChildOut,
    QuotaListOut,
    QuotaOut,
    QuotaPut,
    TargetsOut,
    TargetsPut,
)
from pipeline.models import Quota
from pipeline.targets import quotas, service
from pipeline.targets.quotas import ChildQuota

router = APIRouter(prefix="/api/v1", tags=["targets 目标与名额"], route_class=StrictQueryRoute)

Region = Annotated[str, Path(max_length=12, description="区划代码 — GB/T 2260")]
Year = Annotated[int, Path(ge=2000, le=2100, description="年度")]
TierPath = Annotated[str, Path(max_length=16, description="innovative, provincial or national")]
RegionQuery = Annotated[str, Query(max_length=12, description="区划代码 — GB/T 2260")]
YearQuery = Annotated[int, Query(ge=2000, le=2100, description="年度")]
KnownAt = Annotated[AwareTimestamp | None, Query(description="记录时刻 — as recorded by this time (ISO 8601 with "
                                                          "zone; default now)")]


def quota_out(quota: Quota, children: list[ChildQuota]) -> QuotaOut:
    return QuotaOut(**quotas.view(quota), items=[QuotaChildOut(**c.as_dict()) for c in children])


@router.put(
    "/targets/{region}/{year}", response_model=TargetsOut, summary="设定年度目标 Set a region's targets for a year",
    responses=problems(401, 403, 404, 409, 422),
    description="本区划（或上级）官员设定；整体替换该年度目标，生成新版本，旧版本保留在记录链中。By an official of the "
                "region or above (`set_targets`); replaces the items as a new version; every version stays on the "
                "`targets` chain (`?version=` reads one). Idempotency-Key as for every write.",
)
async def put_targets(region: Region, year: Year, payload: TargetsPut, session: SessionDep, actor: CurrentActor,
                      idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    target = service.put_targets(session, region, year, [item.model_dump(exclude_none=True) for item in payload.items],
                                 actor=actor, reason=payload.reason, request_id=request_id)
    body = TargetsOut(**service.get_targets(session, target.region_code, year, actor))
    return idem.finish(session, ModelResponse(body, headers={"ETag": f'"{target.version}"'}))


@router.get(
    "/targets/progress", response_model=ProgressOut, summary="目标完成进度 Progress against the targets",
    responses=problems(401, 404, 422),
    description="本区划及各下级区划（市的区县、省的市含济源）：每个目标、由事件计得的实际数、完成率与尚差；作废的认定不计；"
                "下级无自有目标时按上级目标列出，target 为 null。For the region and each child region: every target, "
                "the actual value from the events, completion (a fraction) and remaining; `known_at` replays what "
                "was recorded by then (targets included).",
)
def get_progress(session: ReadSessionDep, actor: CurrentActor, year: YearQuery, region: RegionQuery,
                 known_at: KnownAt = None) -> ProgressOut:
    found = service.progress(session, actor, year=year, region=region, known_at=as_utc(known_at, "known_at"))
    return ProgressOut(**found.as_dict())


@router.get(
    "/targets/{region}/{year}", response_model=TargetsOut, summary="年度目标 A region's targets for a year",
    responses=problems(401, 404, 422),
    description="当前版本，或 `?version=` 指定的历史版本。The current version, or an earlier one with `?version=`.",
)
def get_targets(region: Region, year: Year, session: ReadSessionDep, actor: CurrentActor,
                version: Annotated[int | None, Query(ge=1, le=1_000_000, description="版本")] = None) -> TargetsOut:
    return TargetsOut(**service.get_targets(session, region, year, actor, version=version))


@router.put(
    "/quotas/{region}/{year}/{tier}", response_model=QuotaOut, summary="设定推荐名额 Set recommendation quotas",
    responses=problems(401, 403, 404, 409, 422),
    description="各下级区划的基础名额，加按 based_on 目标完成率所达最高门槛的奖励名额（郑工信企业〔2025〕4号）。"
                "Base per child region plus the `extra` of the highest `min_completion` its completion of its own "
                "`based_on` target reaches (`set_quotas`).",
)
async def put_quota(region: Region, year: Year, tier: TierPath, payload: QuotaPut, session: SessionDep,
                    actor: CurrentActor, idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    quota = quotas.put_quota(
        session, region, year, tier, base=payload.base, bonus=[step.model_dump() for step in payload.bonus],
        based_on=payload.based_on.model_dump() if payload.based_on else None, actor=actor, reason=payload.reason,
        request_id=request_id)
    body = quota_out(quota, quotas.child_quotas(session, quota))
    return idem.finish(session, ModelResponse(body, headers={"ETag": f'"{quota.version}"'}))


@router.get(
    "/quotas", response_model=QuotaListOut, summary="推荐名额 Quotas with the completion rates that set them",
    responses=problems(401, 404, 422),
)
def get_quotas(session: ReadSessionDep, actor: CurrentActor, region: RegionQuery, year: YearQuery,
               tier: Annotated[str | None, Query(max_length=16, description="默认全部梯度")] = None) -> QuotaListOut:
    found: list[Any] = quotas.quotas(session, actor, region=region, year=year, tier=tier)
    return QuotaListOut(items=[quota_out(quota, children) for quota, children in found])
