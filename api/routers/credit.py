"""Credit for banks (专精特新贷): a firm's ceiling and white-listing on a date, the white-list, loans, the report."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
from api.schemas.audit import AwareTimestamp, as_utc
from api.schemas.common import IsoDate
from api.schemas.credit import (
    CreditOut,
    CreditPolicyUse,
    CreditReportOut,
    CreditTierRow,
    LoanIn,
    LoanOut,
    LoanPage,
    RepaymentIn,
    WhitelistItem,
    WhitelistPage,
)
from pipeline.credit import ceilings, loans, reports
from pipeline.dates import business_today
from pipeline.firms import repository
from pipeline.identifiers import region_name
from pipeline.imports import exports as export_lists
from pipeline.rulebooks import rulebook_in_force

router = APIRouter(prefix="/api/v1", tags=["credit 专精特新贷"], route_class=StrictQueryRoute)
Uscc = Annotated[str, Path(max_length=40, description="统一社会信用代码")]
LoanId = Annotated[int, Path(ge=1, le=2**63 - 1, description="贷款 id")]
AsOf = Annotated[IsoDate | None, Query(description="业务日期 — the business date (default today, CST)")]
Region = Annotated[str | None, Query(max_length=6, description="区划代码 — GB/T 2260 code within your jurisdiction")]
WHITELIST_HEADERS = ("序号", "统一社会信用代码", "企业名称", "区划代码", "地区名称", "最高称号", "层级代码",
                     "称号有效期至", "无抵押授信上限（元）", "白名单依据")


@router.get(
    "/enterprises/{uscc}/credit", response_model=CreditOut, summary="授信上限与白名单 A firm's credit on a date",
    responses=problems(401, 403, 404, 422),
    description="as_of 当日有效的最高称号在当日有效的政策包下的无抵押授信上限、是否列入白名单、各银行未还无抵押贷款余额"
                "与剩余额度；`policies` 列出所依据的政策包及哈希。The ceiling from the firm's highest title valid on "
                "`as_of` under the pack in force then (null when none is; 0 for revoked, removed, reserve or lapsed "
                "firms), white-listing, every bank's unsecured loans outstanding and the headroom. `known_at`: as "
                "recorded by that time.",
)
def get_credit(
    uscc: Uscc, session: SessionDep, actor: CurrentActor, as_of: AsOf = None,
    known_at: Annotated[AwareTimestamp | None, Query(description="记录时刻 — as recorded by this time")] = None,
) -> CreditOut:
    ceilings.require_reader(actor)
    enterprise = repository.get_enterprise(session, uscc, actor)
    answer = ceilings.credit(session, enterprise, as_of=as_of or business_today(),
                             known_at=as_utc(known_at, "known_at"))
    return CreditOut(**answer.as_dict())


def _whitelist_item(entry: ceilings.WhitelistEntry, label: str) -> WhitelistItem:
    return WhitelistItem(uscc=entry.uscc, name=entry.name, region_code=entry.region_code,
                         highest_title=entry.highest_title, highest_title_label=label, valid_until=entry.valid_until,
                         ceiling_yuan=entry.ceiling_yuan,
                         policies=[CreditPolicyUse.model_validate(p.as_dict()) for p in entry.policies])


FileFormat = Literal["json", "xlsx", "csv"]


def _file(rows: Iterator[Sequence[Any]], fmt: str, title: str, name: str) -> Response:
    return files.table_response(export_lists.Table(title, WHITELIST_HEADERS, rows), fmt, name)


@router.get(
    "/credit/whitelist", response_model=WhitelistPage, summary="银行白名单 White-listed firms on a date",
    responses={200: files.file_response(), **problems(401, 403, 422)},
    description="as_of 当日列入白名单（即报即审）的企业及其授信上限，游标分页；`format=xlsx|csv`（或相应 Accept）"
                "导出全部，中文表头。White-listed firms with their ceiling, keyset pages; with `format=xlsx|csv` "
                "(or the matching Accept) the whole list as a file with Chinese headers.",
)
def get_whitelist(
    session: ReadSessionDep, actor: CurrentActor, as_of: AsOf = None, region: Region = None,
    tier: Annotated[str | None, Query(max_length=32, description="最高称号 innovative/provincial/national")] = None,
    limit: Limit = 100, cursor: CursorParam = None,
    format: Annotated[FileFormat | None, Query(description="json (default), xlsx or csv")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    day = as_of or business_today()
    book = rulebook_in_force(day)
    fmt = files.wanted_format(format, accept)
    if fmt != "json":
        entries, _ = ceilings.whitelist(session, actor, as_of=day, region=region, tier=tier, limit=10**9)

        def rows() -> Iterator[Sequence[Any]]:
            for number, e in enumerate(entries, start=1):
                yield (number, e.uscc, e.name, e.region_code, region_name(e.region_code) or "",
                       book.label(e.highest_title), e.highest_title, e.valid_until, e.ceiling_yuan,
                       "、".join(f"{p.id}（{p.used_for}）" for p in e.policies))

        return _file(rows(), fmt, f"银行白名单（{day.isoformat()}）", f"whitelist-{day.isoformat()}.{fmt}")
    entries, more = ceilings.whitelist(session, actor, as_of=day, region=region, tier=tier,
                                       after_id=decode_cursor(cursor) if cursor else 0, limit=limit)
    return WhitelistPage(as_of=day, items=[_whitelist_item(e, book.label(e.highest_title)) for e in entries],
                         next_cursor=encode_cursor(entries[-1].enterprise_id) if more and entries else None)


@router.post(
    "/enterprises/{uscc}/loans", status_code=201, response_model=LoanOut, summary="登记贷款 Record a loan",
    responses=problems(401, 403, 404, 409, 422),
    description="放款银行（被授予 record_loan 的接入系统）登记贷款；记录签约日适用的授信上限及核查时刻，超出剩余额度的"
                "记 `over_ceiling: true`。合同号在同一银行内唯一（409 already-exists）。The calling bank records a "
                "loan; the ceiling on `signed_on` and when it was checked are kept; a loan above the headroom is "
                "recorded with `over_ceiling: true`. Idempotency-Key as everywhere.",
)
async def post_loan(uscc: Uscc, payload: LoanIn, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
                    request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    loan = loans.record(session, uscc, loans.LoanTerms(
        bank=payload.bank, product=payload.product, contract_no=payload.contract_no, amount_yuan=payload.amount_yuan,
        signed_on=payload.signed_on, matures_on=payload.matures_on, secured=payload.secured),
        actor=actor, request_id=request_id)
    return idem.finish(session, ModelResponse(LoanOut(**loans.view(loan)), status_code=201))


@router.post(
    "/loans/{loan_id}/repay", response_model=LoanOut, summary="登记还款 Record a repayment",
    responses=problems(401, 403, 404, 422),
    description="放款银行登记（部分）还款；`amount_yuan` 缺省为还清。Only the lending bank; another bank's loan "
                "is 404.",
)
async def post_repayment(loan_id: LoanId, payload: RepaymentIn, session: SessionDep, actor: CurrentActor,
                         idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    loan = loans.repay(session, loan_id, payload.repaid_on, payload.amount_yuan, actor=actor, request_id=request_id)
    return idem.finish(session, ModelResponse(LoanOut(**loans.view(loan))))


@router.get("/loans/{loan_id}", response_model=LoanOut, summary="贷款 One loan", responses=problems(401, 403, 404, 422))
def get_loan(loan_id: LoanId, session: SessionDep, actor: CurrentActor) -> LoanOut:
    return LoanOut(**loans.view(loans.get_loan(session, loan_id, actor)))


@router.get(
    "/loans", response_model=LoanPage, summary="贷款列表 Loans", responses=problems(401, 403, 422),
    description="as_of 当日前签约的贷款及当日余额、是否逾期：银行只见本行贷款；官员和审计见辖区内企业的全部贷款"
                "（`bank` 为银行主体 id 或名称）。Loans signed by `as_of` with what was owed that day and the "
                "overdue flag.",
)
def list_loans(
    session: SessionDep, actor: CurrentActor, as_of: AsOf = None, region: Region = None,
    bank: Annotated[str | None, Query(max_length=200, description="银行主体 id 或名称")] = None,
    limit: Limit = 100, cursor: CursorParam = None,
) -> LoanPage:
    day = as_of or business_today()
    found, more = loans.loans(session, actor, bank=bank, region=region, as_of=day,
                              after_id=decode_cursor(cursor) if cursor else 0, limit=limit)
    return LoanPage(as_of=day, items=[LoanOut(**loans.view(loan, day)) for loan in found],
                    next_cursor=encode_cursor(found[-1].id) if more and found else None)


@router.get(
    "/reports/credit", response_model=CreditReportOut, summary="信用报表 Credit per tier on a date",
    responses=problems(401, 403, 422),
    description="按当日最高称号分层：企业数、白名单数、有贷款企业数、贷款笔数、未还余额、授信上限使用比例。Per tier: "
                "firms, white-listed, firms with a loan, loans, amount outstanding, share of the ceilings used.",
)
def get_credit_report(session: ReadSessionDep, actor: CurrentActor, as_of: AsOf = None,
                      region: Region = None) -> CreditReportOut:
    day = as_of or business_today()
    book = rulebook_in_force(day)
    rows = reports.report(session, actor, as_of=day, region=region)
    return CreditReportOut(as_of=day, region=region, tiers=[CreditTierRow(
        tier=r.tier, tier_label=book.label(r.tier) if r.tier != reports.UNTITLED else "无有效称号",
        firms=r.firms, whitelisted=r.whitelisted, firms_with_loan=len(r.borrowers), loans=r.loans,
        outstanding_yuan=r.outstanding_yuan, ceilings_yuan=r.ceilings_yuan, ceiling_used=r.ceiling_used)
        for r in rows])
