"""/api/v1/rounds and /api/v1/applications — 申报 → 推荐 → 认定; /api/v1/reports/applications and the 通报
(/api/v1/reports/progress, JSON, .xlsx or CSV)."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse, Response

from api import files
from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from api.presenters import ModelResponse
from api.replica import ReadSessionDep
from api.responses import problems
from api.routers.targets import KnownAt, RegionQuery, YearQuery
from api.schemas.audit import as_utc
from api.schemas.rounds import (
    ApplicationCreate,
    ApplicationOut,
    ApplicationPage,
    ApplicationsReportOut,
    DecisionRequest,
    ProgressReportOut,
    RecommendRequest,
    RoundCreate,
    RoundOut,
    WithdrawRequest,
)
from pipeline.imports.exports import MEDIA_TYPES
from pipeline.models import Application, ApplicationRound
from pipeline.targets import reports, rounds, workbook

router = APIRouter(prefix="/api/v1", tags=["rounds 申报与推荐"], route_class=StrictQueryRoute)

MAX_ID = 2**63 - 1
RoundId = Annotated[int, Path(ge=1, le=MAX_ID, description="申报批次 id")]
ApplicationId = Annotated[int, Path(ge=1, le=MAX_ID, description="申报 id")]
WRITE_PROBLEMS = problems(401, 403, 404, 409, 422)


def application_out(app: Application, item: ApplicationRound) -> ApplicationOut:
    view = rounds.application_view(app, item)
    return ApplicationOut(**view, eligibility=rounds.eligibility_link(app.uscc, item.tier))


def _written(idem: Any, session: Any, body: Any, *, status_code: int = 200, version: int | None = None,
             ) -> JSONResponse:
    headers = {"ETag": f'"{version}"'} if version is not None else None
    response: JSONResponse = idem.finish(session, ModelResponse(body, status_code=status_code,
                                                               headers=headers))
    return response


@router.post("/rounds", status_code=201, response_model=RoundOut, summary="开启申报批次 Open an application round",
             responses=WRITE_PROBLEMS,
             description="由最后一级推荐的层级开启（省级、国家级批次为省）；规则库 open_round。Opened at the "
                         "level that recommends last (the province for provincial and national rounds); 409 "
                         "already-exists for a second round with the same tier, year and batch.")
async def create_round(payload: RoundCreate, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
                       request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    item = rounds.create_round(session, **payload.model_dump(), actor=actor, request_id=request_id)
    return _written(idem, session, RoundOut(**rounds.round_view(item)), status_code=201)


@router.post("/rounds/{round_id}/applications", status_code=201, response_model=ApplicationOut,
             summary="申报 A firm applies", responses=WRITE_PROBLEMS,
             description="由企业所在区县或市录入；每个批次每家企业一份（409 already-exists）；申报日期须在批次期间（"
                         "409 guard-failed round_window）。Entered by the firm's district or city; one application "
                         "per firm per round.")
async def create_application(round_id: RoundId, payload: ApplicationCreate, session: SessionDep,
                             actor: CurrentActor, idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    app, item = rounds.apply(session, round_id, uscc=payload.uscc, submitted_on=payload.submitted_on, actor=actor,
                             request_id=request_id)
    return _written(idem, session, application_out(app, item), status_code=201, version=app.version)


@router.get("/rounds/{round_id}/applications", response_model=ApplicationPage, summary="批次的申报 A round's "
            "applications", responses=problems(401, 404, 422))
def list_applications(
    round_id: RoundId, session: ReadSessionDep, actor: CurrentActor, limit: Limit = 100, cursor: CursorParam = None,
    status: Annotated[Literal["applied", "recommended", "not_recommended", "approved", "rejected", "withdrawn"] | None,
                      Query(description="申报状态")] = None,
) -> ApplicationPage:
    found, item, more = rounds.applications(session, round_id, actor, status=status,
                                            after_id=decode_cursor(cursor) if cursor else 0, limit=limit)
    return ApplicationPage(items=[application_out(app, item) for app in found],
                           next_cursor=encode_cursor(found[-1].id) if more and found else None)


@router.post("/applications/{application_id}/recommend", response_model=ApplicationOut,
             summary="推荐 Recommend (or not)", responses=problems(401, 403, 404, 409, 422),
             description="上一级推荐；超出下级区划当年该梯度的推荐名额时 409 quota-exceeded。By the next level; "
                         "past the child region's quota for the year and tier: 409 `quota-exceeded` (nothing "
                         "written). `recommended: false` records 不推荐 (not_recommended).")
async def recommend(application_id: ApplicationId, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
                    request_id: RequestId, payload: RecommendRequest | None = None) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    body = payload or RecommendRequest(recommended_on=None)
    app, item = rounds.recommend(session, application_id, actor=actor, recommended=body.recommended,
                                 on=body.recommended_on, reason=body.reason, request_id=request_id)
    return _written(idem, session, application_out(app, item), version=app.version)


@router.post("/applications/{application_id}/decide", response_model=ApplicationOut,
             summary="认定结果 Decide: approve (fires the recognition) or reject", responses=WRITE_PROBLEMS,
             description="批准即在同一事务中以批次与文号触发 recognize_<tier>（奖励随之生成）；认定被拒（如守卫不通过"
                         "）时 409，申报仍为 recommended。Approval fires the recognition through the lifecycle "
                         "in the same transaction (awards follow); a refused recognition answers its 409 and "
                         "the application stays recommended. `lost_points[].criterion` is an indicator key "
                         "of the eligibility rulebook in force on `decided_on`.")
async def decide(application_id: ApplicationId, payload: DecisionRequest, session: SessionDep, actor: CurrentActor,
                 idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    app, item = rounds.decide(session, application_id, outcome=payload.outcome, decided_on=payload.decided_on,
                              document_no=payload.document_no,
                              lost_points=[lost.model_dump() for lost in payload.lost_points], actor=actor,
                              reason=payload.reason, request_id=request_id)
    return _written(idem, session, application_out(app, item), version=app.version)


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationOut,
             summary="撤回申报 Withdraw an application", responses=WRITE_PROBLEMS)
async def withdraw(application_id: ApplicationId, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
                   request_id: RequestId, payload: WithdrawRequest | None = None) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    app, item = rounds.withdraw(session, application_id, actor=actor, reason=payload.reason if payload else None,
                                request_id=request_id)
    return _written(idem, session, application_out(app, item), version=app.version)


@router.get("/reports/applications", response_model=ApplicationsReportOut,
            summary="申报分析 Applications per child region, lost points by criterion (靶向培育)",
            responses=problems(401, 404, 422))
def applications_report(session: ReadSessionDep, actor: CurrentActor, year: YearQuery,
                        region: RegionQuery) -> ApplicationsReportOut:
    return ApplicationsReportOut(**reports.applications_report(session, actor, year=year, region=region))


FILE_CONTENT = {200: {"content": {"application/json": {}, MEDIA_TYPES["xlsx"]: {}, MEDIA_TYPES["csv"]: {}},
                      "description": "JSON, or the 通报 workbook (.xlsx) or CSV by `?format=` or `Accept`"}}


@router.get("/reports/progress", response_model=ProgressReportOut, summary="通报 Progress notice",
            responses={**problems(401, 404, 422), **FILE_CONTENT},  # type: ignore[dict-item]
            description="每个梯度一张表，下级区划按该梯度 new 完成率排名，含合计；名额与申报数另表。.xlsx "
                        "含中文表头与完成率柱状图。One table per tier ranked by that tier's `new` completion "
                        "with the region's total, and the quotas and application figures per child region; "
                        "`?format=xlsx` (a sheet per tier with a native bar chart, and 名额与申报) or `csv`.")
def progress_report(
    session: ReadSessionDep, actor: CurrentActor, year: YearQuery, region: RegionQuery, known_at: KnownAt = None,
    format: Annotated[Literal["json", "xlsx", "csv"] | None, Query(description="json, xlsx or csv")] = None,
    accept: Annotated[str, Header(description="application/json, text/csv or the .xlsx media type")] = "",
) -> Any:
    report = reports.progress_report(session, actor, year=year, region=region, known_at=as_utc(known_at, "known_at"))
    fmt = files.wanted_format(format, accept)
    if fmt == "json":
        return ProgressReportOut(**report)
    out = io.BytesIO()
    (workbook.write_xlsx if fmt == "xlsx" else workbook.write_csv)(report, out)
    name = f"通报-{report['region_code']}-{year}.{fmt}"
    return Response(out.getvalue(), media_type=MEDIA_TYPES[fmt], headers=files.attachment(name))
