"""/api/v1/awards — entitlements (奖励应享), their own chains and their way to payment (approve, pay, cancel,
settle); manual entitlements; payers' budgets under /api/v1/budgets; the yearly report (拨付清单) under
/api/v1/reports/awards; a firm's awards under /api/v1/enterprises."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse, Response

from api import files
from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from api.presenters import ModelResponse
from api.problems import ProblemError, slug_for
from api.replica import ReadSessionDep
from api.responses import problems
from api.schemas.awards import (
    AwardApproveIn,
    AwardBatchApproveIn,
    AwardBatchOut,
    AwardCancelIn,
    AwardHistoryOut,
    AwardPage,
    AwardPayIn,
    AwardRecordOut,
    AwardSettleIn,
    AwardsReportOut,
    BudgetIn,
    BudgetOut,
    FirmAwardsOut,
    ManualAwardIn,
)
from pipeline.awards import flow, ledger, reads, reports
from pipeline.dates import business_today
from pipeline.imports import exports as export_lists

router = APIRouter(tags=["awards 奖励"], route_class=StrictQueryRoute)
EntitlementId = Annotated[int, Path(ge=1, le=2**63 - 1, description="奖励应享记录 id")]
Uscc = Annotated[str, Path(max_length=40, description="统一社会信用代码")]
RegionCode = Annotated[str, Path(max_length=6, description="付款方区划代码 — payer region (GB/T 2260)")]
Year = Annotated[int, Path(ge=2000, le=2100, description="年度")]
ReportFormat = Literal["json", "xlsx", "csv"]
CHUNK_BYTES = 64 * 1024


@router.get("/api/v1/enterprises/{uscc}/awards", response_model=FirmAwardsOut, summary="企业奖励 A firm's awards",
            responses=problems(401, 404, 422),
            description="全部应享记录（含已取消）及未获奖励的原因。Every entitlement of the firm, cancelled ones "
                        "included, and `unearned`: why an achievement earned nothing.")
def firm_awards(uscc: Uscc, session: SessionDep, actor: CurrentActor) -> FirmAwardsOut:
    return FirmAwardsOut(**reads.firm_awards(session, uscc, actor))


@router.get("/api/v1/awards/{entitlement_id:int}", summary="奖励应享记录 One entitlement",
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


def _entitlement(entitlement: Any) -> JSONResponse:
    return JSONResponse(ledger.view(entitlement))


@router.get(
    "/api/v1/awards", response_model=AwardPage, summary="奖励应享列表 Entitlements",
    responses=problems(401, 422),
    description="辖区内企业的应享记录，按 id 游标分页；可按状态、政策包、付款方（区划完全一致）、企业区划、"
                "认定年度筛选。"
                "Entitlements of firms in your jurisdiction, keyset pages by id; `payer` keeps those with a share "
                "paid by exactly that region, `year` the achievement's year.",
)
def list_awards(
    session: ReadSessionDep, actor: CurrentActor,
    status: Annotated[str | None, Query(max_length=16, description="状态 — entitled, approved, partially_paid, "
                                                                   "paid, cancelled, clawback_due, settled")] = None,
    policy: Annotated[str | None, Query(max_length=64, description="政策包 id")] = None,
    payer: Annotated[str | None, Query(max_length=6, description="付款方区划代码")] = None,
    region: Annotated[str | None, Query(max_length=6, description="企业区划代码 within your jurisdiction")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="认定年度 — year of the achievement")] = None,
    limit: Limit = 100, cursor: CursorParam = None,
) -> AwardPage:
    items, last = reports.list_entitlements(session, actor, status=status, policy=policy, payer=payer,
                                            region=region, year=year, limit=limit,
                                            after=decode_cursor(cursor) if cursor else 0)
    return AwardPage(items=[ledger.view(e) for e in items],
                     next_cursor=encode_cursor(last) if last is not None else None)


@router.post(
    "/api/v1/awards", status_code=201, summary="人工应享记录 Enter a manual entitlement",
    responses=problems(401, 403, 404, 422),
    description="需要判断的条款（如郑政办〔2022〕36号“整体迁入……参照新认定补贴标准”）由官员录入，同样从高、不重复。"
                "For clauses that need judgment; stacked like every other entitlement (in `top_up` mode owed "
                "only the difference from what its group already owes the firm).",
)
async def create_award(payload: ManualAwardIn, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
                       request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    entitlement = reads.create_manual(
        session, payload.uscc, payload.policy_id, payload.award_id, effective_date=payload.effective_date,
        basis=payload.basis, evidence=payload.evidence, actor=actor, request_id=request_id)
    response = JSONResponse(ledger.view(entitlement), status_code=201,
                            headers={"Location": f"/api/v1/awards/{entitlement.id}"})
    return idem.finish(session, response)


@router.post(
    "/api/v1/awards/approve", response_model=AwardBatchOut, summary="批量审批 Approve several entitlements",
    responses=problems(401, 403, 409, 422),
    description="全部可审批才执行，否则 422 batch-refused（`items` 列出每个问题项），不写入任何内容。All or nothing: "
                "one refused id refuses the batch (422 `batch-refused` naming each) and nothing is written.",
)
async def approve_awards(payload: AwardBatchApproveIn, session: SessionDep, actor: CurrentActor,
                         idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    try:
        done = flow.approve_many(session, payload.ids, actor=actor, reason=payload.reason, request_id=request_id)
    except flow.BatchRefused as refused:
        raise ProblemError("batch-refused", refused.detail, items=[
            {"id": f.id, "type": slug_for(f.error), "detail": f.error.detail} for f in refused.failures]) from None
    return idem.finish(session, ModelResponse(AwardBatchOut(items=[ledger.view(e) for e in done])))


@router.post(
    "/api/v1/awards/{entitlement_id}/approve", summary="审批 Approve",
    responses=problems(401, 403, 404, 409, 422),
    description="审批本人可审批的待审批份额：付款方区划同级或上级、辖区覆盖付款方的官员。Approves every share awaiting "
                "approval whose payer region the official covers at its level or above; 409 `illegal-transition` "
                "when none awaits approval.",
)
async def approve_award(entitlement_id: EntitlementId, session: SessionDep, actor: CurrentActor,
                        idem: IdempotencyDep, request_id: RequestId,
                        payload: AwardApproveIn | None = None) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    body = payload or AwardApproveIn()
    entitlement = flow.approve(session, entitlement_id, actor=actor, reason=body.reason, evidence=body.evidence,
                               request_id=request_id)
    return idem.finish(session, _entitlement(entitlement))


@router.post(
    "/api/v1/awards/{entitlement_id}/pay", summary="拨付 Record a share paid",
    responses=problems(401, 403, 404, 409, 422),
    description="财政部门（finance，区划与份额付款方一致）登记本级份额已拨付；全部份额拨付前为 partially_paid。"
                "A `finance` principal whose region equals the share's `region_code` pays its own (approved) "
                "share; the entitlement is `partially_paid` until every share is paid.",
)
async def pay_award(entitlement_id: EntitlementId, payload: AwardPayIn, session: SessionDep, actor: CurrentActor,
                    idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    entitlement = flow.pay(session, entitlement_id, paid_on=payload.paid_on, document_no=payload.document_no,
                           actor=actor, evidence=payload.evidence, request_id=request_id)
    return idem.finish(session, _entitlement(entitlement))


@router.post(
    "/api/v1/awards/{entitlement_id}/cancel", summary="取消 Cancel",
    responses=problems(401, 403, 404, 409, 422),
    description="尚无份额拨付时取消；已拨付的只能追回。Cancels an entitlement none of whose shares is paid; a paid "
                "one is clawed back instead (409 `illegal-transition`).",
)
async def cancel_award(entitlement_id: EntitlementId, payload: AwardCancelIn, session: SessionDep,
                       actor: CurrentActor, idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    entitlement = flow.cancel(session, entitlement_id, reason=payload.reason, actor=actor,
                              evidence=payload.evidence, request_id=request_id)
    return idem.finish(session, _entitlement(entitlement))


@router.post(
    "/api/v1/awards/{entitlement_id}/settle", summary="追回结清 Settle a clawback",
    responses=problems(401, 403, 404, 409, 422),
    description="待追回（clawback_due）的份额追回完毕，记为 settled。Every `clawback_due` share becomes `settled`.",
)
async def settle_award(entitlement_id: EntitlementId, payload: AwardSettleIn, session: SessionDep,
                       actor: CurrentActor, idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    entitlement = flow.settle(session, entitlement_id, reason=payload.reason, document_no=payload.document_no,
                              actor=actor, evidence=payload.evidence, request_id=request_id)
    return idem.finish(session, _entitlement(entitlement))


@router.put(
    "/api/v1/budgets/{payer_region}/{year}", response_model=BudgetOut, summary="设定奖励预算 Set a payer's budget",
    responses=problems(401, 403, 422),
    description="付款方本级官员或财政部门设定年度奖励预算；每次修改记入 budgets 记录链。The payer region's own "
                "official or finance bureau; each change is a record of the `budgets` chain (audit verify).",
)
async def put_budget(payer_region: RegionCode, year: Year, payload: BudgetIn, session: SessionDep,
                     actor: CurrentActor, idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    budget = reports.set_budget(session, payer_region, year, payload.amount, actor=actor, request_id=request_id)
    return idem.finish(session, JSONResponse(reports.budget_view(budget)))


_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: files.file_response("JSON 报表，或 .xlsx/CSV 拨付清单（中文表头） — the report as JSON, or the payout list as "
                             ".xlsx or CSV with Chinese headers"),
    **problems(401, 422),
}


@router.get(
    "/api/v1/reports/awards", response_model=AwardsReportOut, responses=_REPORT_RESPONSES,
    summary="奖励年度报表 Awards report",
    description="按政策包和付款方：应享（owed，认定在该年度的有效应享）、已审批待拨付、该年度已拨付（paid）、未拨付"
                "（outstanding），对照预算。`?format=xlsx|csv`（或相应 Accept）给出拨付清单：付款方、企业名称、"
                "统一社会信用代码、区划、金额、状态。Per pack and payer: owed (net of live entitlements whose "
                "achievement falls in the year), approved, paid (shares paid in the year), outstanding, against "
                "the budget; as a file the 拨付清单 with one row per share.",
)
def awards_report(
    session: ReadSessionDep, actor: CurrentActor,
    year: Annotated[int, Query(ge=2000, le=2100, description="年度")],
    region: Annotated[str | None, Query(max_length=6, description="付款方区划 — payers within this region")] = None,
    format: Annotated[ReportFormat | None, Query(description="json (default), xlsx or csv")] = None,
    accept: Annotated[str, Header(description="application/json, text/csv or the .xlsx media type")] = "",
) -> Response:
    fmt = files.wanted_format(format, accept)
    if fmt == "json":
        return ModelResponse(AwardsReportOut(**reports.awards_report(session, actor, year=year, region=region)))
    table = export_lists.Table("拨付清单", reports.PAYOUT_HEADERS,
                               reports.payout_rows(session, actor, year=year, region=region))
    name = f"拨付清单-{year}-{region or actor.region_code or '全部'}-{business_today().isoformat()}.{fmt}"
    return files.table_response(table, fmt, name)
