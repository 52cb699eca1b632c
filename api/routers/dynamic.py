"""/api/v1/dynamic-management — the expiry sweep, the re-review worklist, batches; and a firm's annual
filings and major-change reports under /api/v1/enterprises/{uscc}."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentActor, RequestId, SessionDep
from api.idempotency import IdempotencyDep
from api.presenters import ModelResponse, detail, etag, event_out
from api.problems import ProblemError, slug_for
from api.responses import problems
from api.schemas.dynamic import (
    BatchOut,
    BatchRequest,
    BatchResultOut,
    ChangeOut,
    ChangeRequest,
    DueGroupOut,
    DueItemOut,
    DueOut,
    FilingOut,
    FilingRequest,
    ItemProblemOut,
    SkippedOut,
    SweepItemOut,
    SweepOut,
    SweepRequest,
)
from pipeline.dates import business_today
from pipeline.dynamic import batches, obligations, sweep, worklist
from pipeline.dynamic.obligations import FLAGS
from pipeline.rulebooks import TITLE_TIERS

router = APIRouter(tags=["dynamic management 动态管理"])
PREFIX = "/api/v1/dynamic-management"

# --- routes ---------------------------------------------------------------------------------------------


@router.post(
    f"{PREFIX}/sweeps", response_model=SweepOut, summary="有效期届满清理 Run the expiry sweep",
    responses=problems(401, 403, 409, 422),
    description="找出 valid_until 早于 as_of 且未续期的称号；apply 时以 system 身份写入 expire 事件，企业落到仍有效的"
                "最高称号或后备清单。重复执行不会重复写入。Finds titles whose validity ended before `as_of`; with "
                "`apply` ends them by `expire` events recorded by `system` (the caller is kept in the evidence and "
                "needs the `expire` permission). Limited to the caller's jurisdiction; safe to repeat. For "
                "national-scale sweeps use `pipeline sweep` (one transaction per batch).",
)
def post_sweep(payload: SweepRequest, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
               request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    items: list[sweep.SweepItem] = []

    def keep(item: sweep.SweepItem) -> None:
        if len(items) <= payload.limit:
            items.append(item)

    report = sweep.sweep(lambda: nullcontext(session), payload.as_of or business_today(), apply=payload.apply,
                         requested_by=actor, on_item=keep, request_id=request_id)
    body = SweepOut(
        as_of=report.as_of, applied=report.applied, candidates=report.candidates,
        firms_expired=report.firms_expired, events=report.events, by_tier=dict(report.by_tier),
        ended_titles=dict(report.ended_titles), side_titles_ended=dict(report.side_titles_ended),
        skipped=[SkippedOut(uscc=u, reason=r) for u, r in report.skipped],
        items=[SweepItemOut(**{**vars(i), "ended_titles": list(i.ended_titles)}) for i in items[:payload.limit]],
        items_truncated=len(items) > payload.limit,
    )
    return idem.finish(session, ModelResponse(body))


@router.get(
    f"{PREFIX}/due", response_model=DueOut, summary="复核清单 Titles due for re-review",
    responses=problems(401, 422),
    description="有效期在今天起 within_days 天内届满的称号（企业当前状态所对应的称号），按称号与认定批次分组；"
                "可按称号、区划、标记筛选。Titles ending within the window, grouped by tier and recognition batch "
                "(how MIIT re-reviews the batch recognised three years earlier), in the caller's jurisdiction.",
)
def get_due(
    session: SessionDep, actor: CurrentActor,
    within_days: Annotated[int, Query(ge=0, le=worklist.MAX_WITHIN_DAYS, description="窗口天数")] = 180,
    tier: Annotated[Literal[TITLE_TIERS] | None, Query(description="称号")] = None,  # type: ignore[valid-type]
    region: Annotated[str | None, Query(max_length=6, description="区划代码 GB/T 2260")] = None,
    flag: Annotated[Literal[FLAGS] | None, Query(description="只看带此标记的企业")] = None,  # type: ignore[valid-type]
) -> DueOut:
    today = business_today()
    groups = worklist.due(session, actor, within_days=within_days, today=today, tier=tier, region=region, flag=flag)
    return DueOut(
        today=today, until=today + dt.timedelta(days=within_days), total=sum(g.count for g in groups),
        groups=[DueGroupOut(tier=g.tier, tier_label=g.tier_label, batch=g.batch, count=g.count,
                            items=[DueItemOut(**vars(i)) for i in g.items]) for g in groups],
    )


def _problem_of(exc: Any) -> ItemProblemOut:
    slug = slug_for(exc)
    return ItemProblemOut(type=f"/problems/{slug}", title=exc.title, detail=exc.detail)


@router.post(
    f"{PREFIX}/batches", response_model=BatchOut, summary="批量操作 Transitions in a batch",
    responses=problems(401, 422),
    description="all_or_nothing：任一项不符合即全部不执行，422 batch-refused 的 `items` 列出每个问题项；each：逐项"
                "执行并返回各自结果。all_or_nothing: one bad item writes nothing and the 422 `batch-refused` problem "
                "lists every bad item (index, uscc, type, detail); each: every item gets its own result.",
)
def post_batch(payload: BatchRequest, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
               request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    items = [batches.BatchItem(
        uscc=i.uscc, trigger=i.trigger, effective_date=i.effective_date, reason_code=i.reason_code, reason=i.reason,
        evidence=i.evidence.model_dump(exclude_none=True) if i.evidence else {}) for i in payload.items]
    try:
        results = batches.run_batch(session, items, mode=payload.mode, actor=actor, request_id=request_id)
    except batches.BatchRefused as refused:
        raise ProblemError("batch-refused", refused.detail, items=[
            {"index": f.index, "uscc": f.uscc, "type": slug_for(f.error), "detail": f.error.detail}
            for f in refused.failures if f.error is not None]) from None
    out = BatchOut(mode=payload.mode, total=len(results), succeeded=sum(r.ok for r in results),
                   failed=sum(not r.ok for r in results), results=[
        BatchResultOut(index=r.index, uscc=r.uscc, status="ok" if r.ok else "failed",
                       event=event_out(r.outcome.event) if r.outcome else None,
                       problem=_problem_of(r.error) if r.error else None) for r in results])
    return idem.finish(session, ModelResponse(out))


@router.put(
    "/api/v1/enterprises/{uscc}/filings/{year}", response_model=FilingOut,
    summary="年度数据报送 Record an annual data filing", responses=problems(401, 403, 404, 422),
    description="记录企业报送某年度数据的日期（amendment 事件）；年度数据须在次年规则规定的截止日前报送，逾期则标记 "
                "annual_data_overdue。Records the day year `year`'s data was filed, as an amendment event; "
                "repeating the same filing writes nothing. Missing the rulebook's deadline (in year+1) flags the "
                "firm `annual_data_overdue`.",
)
def put_filing(
    uscc: str, year: Annotated[int, Path(ge=1900, le=9999, description="数据年度")], payload: FilingRequest,
    session: SessionDep, actor: CurrentActor, request_id: RequestId,
) -> FilingOut:
    outcome = obligations.record_filing(session, uscc, year=year, filed_on=payload.filed_on, actor=actor,
                                        request_id=request_id)
    return FilingOut(uscc=outcome.enterprise.uscc, year=year, filed_on=outcome.filing.filed_on,
                     deadline=outcome.deadline, on_time=outcome.on_time,
                     event=event_out(outcome.event) if outcome.event else None,
                     flags=dict(outcome.enterprise.flags or {}))


@router.post(
    "/api/v1/enterprises/{uscc}/changes", status_code=201, response_model=ChangeOut,
    summary="重大变化报告 Report a major change", responses=problems(401, 403, 404, 409, 422),
    description="更名、合并、重组、迁出本省、设立境外分支机构等，记为 amendment 事件；超过规则规定的报告期限（3个月）"
                "则标记 late_change_report。迁出本省并 remove_from_pool 时同时以 relocated 原因移出培育库。Recorded "
                "as an amendment event; reported later than occurred_on + the rulebook's window → flagged "
                "`late_change_report`. A move out of the province with `remove_from_pool` also fires `remove`.",
)
def post_change(uscc: str, payload: ChangeRequest, session: SessionDep, actor: CurrentActor,
                idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    outcome = obligations.report_change(
        session, uscc, kind=payload.kind, occurred_on=payload.occurred_on, detail=payload.detail, actor=actor,
        remove_from_pool=payload.remove_from_pool, document_no=payload.document_no, request_id=request_id)
    body = ChangeOut(late=outcome.late, due_by=outcome.due_by, event=event_out(outcome.event),
                     removal_event=event_out(outcome.removal) if outcome.removal else None,
                     enterprise=detail(outcome.enterprise, actor))
    response = ModelResponse(body, status_code=201, headers={"ETag": etag(outcome.enterprise)})
    return idem.finish(session, response)
