"""Annual indicator data, eligibility screening and the three candidate lists (后备清单).

/api/v1/enterprises/{uscc}/indicators/{year}   a firm's indicators of one data year (PUT replaces, GET reads)
/api/v1/enterprises/{uscc}/eligibility         the firm judged against a tier's criteria
/api/v1/indicators                             the indicator catalogue; …/imports the sheet import
/api/v1/candidates                             a tier's candidate list; …/{tier}/marks pin, drop, clear
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.presenters import ModelResponse, event_out, jsonable
from api.problems import problem_response
from api.responses import problems
from api.schemas.common import Text
from api.schemas.eligibility import (
    MAX_LIMIT,
    CandidateOut,
    CandidatePage,
    CatalogueOut,
    EligibilityOut,
    GapOut,
    IndicatorImportOut,
    IndicatorRecordOut,
    IndicatorSpecOut,
    IndicatorsPutOut,
    IndicatorValues,
    IndicatorYearOut,
    IndicatorYearsOut,
    MarkOut,
    MarkRequest,
    MarkResultOut,
)
from pipeline.dates import business_today
from pipeline.eligibility import indicators as indicator_data
from pipeline.eligibility.engine import Gap, indicator_catalogue
from pipeline.imports import ImportFile
from pipeline.screening import candidates as screening

router = APIRouter(tags=["eligibility 资格筛查与后备清单"], route_class=StrictQueryRoute)

ENT = "/api/v1/enterprises/{uscc}"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
Tier = Literal["innovative", "provincial", "national"]
DataYear = Annotated[int, Path(ge=1900, le=2099, description="数据年度 — the financial year of the figures")]
YearQuery = Annotated[int | None, Query(ge=1900, le=2099, description="数据年度 — default: the latest year with data")]
RulebookQuery = Annotated[str | None, Query(max_length=32, description="规则库 — default: in force today")]

# --- presenters -----------------------------------------------------------------------------------------


def _gap(gap: Gap) -> GapOut:
    return GapOut(conditions=list(gap.conditions), points=gap.points, unknown=list(gap.unknown),
                  rank_key=list(gap.rank_key))


def _eligibility(found: screening.Screening) -> EligibilityOut:
    result = found.result
    data = result.to_dict()
    return EligibilityOut(
        uscc=found.enterprise.uscc, name=found.enterprise.name, state=found.enterprise.state, tier=found.tier,
        tier_label=found.rulebook.label(found.tier), rulebook_id=result.rulebook_id,
        rulebook_hash=result.rulebook_hash, year=found.year, assessment_year=found.assessment_year,
        has_data=found.has_data, re_review=result.re_review, holds_innovative=found.holds_innovative,
        holds_provincial=found.holds_provincial, outcome=screening.outcome_of(result.passed), passed=result.passed,
        total_points=result.total_points, category_points=result.category_points, categories=data["categories"],
        items=data["items"], unmet=data["unmet"], missing=list(result.missing),
        direct_condition=result.direct_condition, waivers=list(result.waivers),
        not_applicable=list(result.not_applicable), gap=_gap(result.gap), overlays=data["overlays"],
    )


def _candidate(item: screening.Candidate) -> CandidateOut:
    result = item.result
    return CandidateOut(
        uscc=item.uscc, name=item.name, region_code=item.region_code, year=item.year,
        outcome=screening.outcome_of(result.passed if result else None), passed=result.passed if result else None,
        total_points=result.total_points if result else None,
        category_points=result.category_points if result else {},
        unmet=list(result.unmet) if result else [],
        missing=list(result.missing) if result else [], direct_condition=result.direct_condition if result else None,
        gap=_gap(result.gap) if result else None, mark=MarkOut(**item.mark) if item.mark else None,
        state=item.state, prerequisite_missing=item.prerequisite_missing,
    )


# --- indicators -----------------------------------------------------------------------------------------


@router.put(
    f"{ENT}/indicators/{{year}}", response_model=IndicatorsPutOut,
    summary="录入年度指标 Put a firm's indicators for a year", responses=problems(401, 403, 404, 422),
    description="以请求体替换该企业该数据年度的全部指标（未给出的指标视为未知），校验后记为 amendment 事件，"
                "证据列出每项变化。该年度尚未报送时，本次录入即视为年度数据报送（报送日期为今天），"
                "并据此更新 annual_data_overdue 标记。比例用小数（5% = 0.05），金额以元计。"
                "Replaces the year's record (keys left out become unknown); "
                "validated (ratios 0–1 as decimals, amounts ≥ 0, counts whole, unknown keys refused with the known "
                "ones) and recorded as an amendment event listing every change. If the year was not filed yet, this "
                "is its annual filing, dated today. Repeating the same values writes nothing.",
)
def put_indicators(uscc: str, year: DataYear, payload: IndicatorValues, session: SessionDep, actor: CurrentActor,
                   request_id: RequestId) -> IndicatorsPutOut:
    outcome = indicator_data.record_indicators(session, uscc, year=year, values=payload.root, actor=actor,
                                               request_id=request_id)
    return IndicatorsPutOut(**vars(outcome.record), changes=outcome.changes,
                            event=event_out(outcome.event) if outcome.event else None,
                            flags=dict(outcome.enterprise.flags or {}))


@router.get(
    f"{ENT}/indicators/{{year}}", response_model=IndicatorRecordOut,
    summary="查看年度指标 Get a firm's indicators for a year", responses=problems(401, 404, 422),
    description="该企业该数据年度录入的指标及据此推算的比例。The indicators entered for the year and those derived.",
)
def get_indicators(uscc: str, year: DataYear, session: SessionDep, actor: CurrentActor) -> IndicatorRecordOut:
    return IndicatorRecordOut(**vars(indicator_data.get_indicators(session, uscc, year, actor)))


@router.get(
    f"{ENT}/indicators", response_model=IndicatorYearsOut,
    summary="有指标数据的年度 Years with indicator data", responses=problems(401, 404, 422),
    description="该企业录入过指标的数据年度，新的在前。The data years with indicators, newest first.",
)
def list_indicator_years(uscc: str, session: SessionDep, actor: CurrentActor) -> IndicatorYearsOut:
    rows = indicator_data.indicator_years(session, uscc, actor)
    return IndicatorYearsOut(uscc=uscc.strip().upper(), items=[
        IndicatorYearOut(year=year, filed_on=filed_on, indicators=count) for year, filed_on, count in rows])


@router.get(
    "/api/v1/indicators", response_model=CatalogueOut,
    summary="指标目录 The indicator catalogue", responses=problems(401, 422),
    description="每项指标的类型、单位、取值范围、可选代码及导入时识别的表头。Every indicator a firm-year may carry: "
                "type, unit, valid range, allowed codes, and the spreadsheet headers the import reads as it.",
)
def get_catalogue(session: SessionDep, actor: CurrentActor, rulebook: RulebookQuery = None) -> CatalogueOut:
    book = screening.resolve_rulebook(rulebook, business_today())
    headers = indicator_data.header_map().synonyms
    return CatalogueOut(rulebook_id=book.id, items=[
        IndicatorSpecOut(key=spec.key, type=spec.type, unit=spec.unit, minimum=spec.minimum, maximum=spec.maximum,
                         label_zh=spec.label_zh, label_en=spec.label_en, values=dict(spec.values),
                         levels=dict(spec.levels), derived_from=list(spec.derive) if spec.derive else None,
                         headers=list(headers.get(spec.key, ())), note=spec.note)
        for spec in indicator_catalogue(book).values()])


@router.post(
    "/api/v1/indicators/imports", response_model=IndicatorImportOut,
    summary="导入年度指标 Import indicators from a sheet", responses=problems(401, 403, 413, 422),
    description="上传 .xlsx 或 CSV：每行一家企业一个年度（“年度”列，或用 year 参数统一指定），表头为中文指标名（见 "
                "/api/v1/indicators 的 headers；表头后可注单位如“（万元）”“（%）”）。默认 dry_run=true 只预演；"
                "dry_run=false 时全部写入或全不写入，有问题行则返回 422 import-rejected 并附报告。"
                "空单元格不改变已有数值。"
                "Upload a sheet, one firm-year per row (a 年度 column, or `year` for all rows), Chinese indicator "
                "headers (a unit such as （万元） or （%） converts the cell). Dry run by default; `dry_run=false` "
                "writes all rows or none (any problem → 422 `import-rejected` with the report). Blank cells leave "
                "stored values as they are; each changed firm-year is one amendment event.",
)
def post_indicator_import(
    request: Request, session: SessionDep, actor: CurrentActor, request_id: RequestId,
    file: Annotated[UploadFile, File(description="指标文件 — .xlsx or .csv")],
    year: Annotated[int | None, Form(ge=1900, le=2099, description="数据年度 for rows without one")] = None,
    map: Annotated[list[str] | None, Form(description="`HEADER=key` column mappings")] = None,
    dry_run: Annotated[bool, Form(description="预演 — true (default) writes nothing")] = True,
) -> Response:
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        return problem_response("payload-too-large", f"文件超过{MAX_UPLOAD_BYTES // 2**20} MB — the file exceeds "
                                f"{MAX_UPLOAD_BYTES // 2**20} MB; split it", request)
    source = ImportFile(file.file, file.filename or "upload.csv")
    report = indicator_data.import_indicators(session, source, actor=actor, year=year,
                                              mapping=indicator_data.parse_map(map or []), apply=not dry_run,
                                              request_id=request_id)
    body = IndicatorImportOut(**{**vars(report), "items": [vars(item) for item in report.items]})
    if not dry_run and report.problems:
        return problem_response(
            "import-rejected", f"{report.problems}行有问题，未写入任何数据 — {report.problems} of {report.rows} rows "
            f"have problems; nothing was written", request, report=jsonable(body))
    return ModelResponse(body)


# --- screening ------------------------------------------------------------------------------------------


@router.get(
    f"{ENT}/eligibility", response_model=EligibilityOut,
    summary="资格筛查 Screen a firm against a tier's criteria", responses=problems(401, 404, 422),
    description="以企业某数据年度（默认最近有数据的年度）的指标，对照规则库（默认今天生效的）某称号（默认企业当前状态的上"
                "一级）的认定条件评价：是否通过（pass/fail/unknown）、总分与分类得分、每项指标的档次与得分、每个未满足"
                "条件（中英文）及缺失数据。缺失数据为“未知”，绝不按零计。Judges the firm with its indicators of one "
                "data year against a tier's criteria: outcome, total and per-category points, each indicator's band "
                "and points, each unmet condition in Chinese and English, and the missing data (unknown, never "
                "zero). holds_* are the titles valid today; re_review means the firm already holds the tier.",
)
def get_eligibility(uscc: str, session: SessionDep, actor: CurrentActor, tier: Annotated[
        Tier | None, Query(description="称号 — default: the next tier above the firm's state")] = None,
        year: YearQuery = None, rulebook: RulebookQuery = None) -> EligibilityOut:
    return _eligibility(screening.screen(session, uscc, actor, tier=tier, year=year, rulebook_id=rulebook))


@router.get(
    "/api/v1/candidates", response_model=CandidatePage,
    summary="后备清单 A tier's candidate list", responses=problems(401, 422),
    description="某称号的后备清单：辖区内低一级的企业（创新型←后备库，专精特新←创新型，小巨人←专精特新）中通过或接近通过"
                "的，按差距排序（通过者在前，置顶者最前），附评价摘要与差距。已置顶的企业总在清单上，"
                "已移出的不在（除非 include_dropped）。"
                "The candidate list of a tier: firms one tier below in your jurisdiction that pass "
                "or nearly pass (≤ max_conditions failed conditions and ≤ max_points points short; open outcomes "
                "count when nothing failed), ranked — pinned first, then passes, then by gap. Pinned firms always "
                "appear; dropped ones never unless include_dropped.",
)
def get_candidates(
    session: SessionDep, actor: CurrentActor,
    tier: Annotated[Tier, Query(description="称号 — the list's tier")],
    region: Annotated[str | None, Query(max_length=6, description="区划代码 within your jurisdiction")] = None,
    year: YearQuery = None, rulebook: RulebookQuery = None,
    include_dropped: Annotated[bool, Query(description="含已移出的企业")] = False,
    max_conditions: Annotated[int, Query(ge=0, le=50, description="接近通过：最多未满足条件数")] =
        screening.NEAR_CONDITIONS,
    max_points: Annotated[int, Query(ge=0, le=100, description="接近通过：最多差几分")] = screening.NEAR_POINTS,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="每页条数")] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="下一页 — the previous next_cursor")] = None,
) -> CandidatePage:
    offset = screening.decode_cursor(cursor)
    found = screening.candidates(session, actor, tier=tier, region=region, year=year, rulebook_id=rulebook,
                                 include_dropped=include_dropped, max_conditions=max_conditions, max_points=max_points)
    page = found.items[offset:offset + limit]
    more = offset + limit < len(found.items)
    return CandidatePage(
        tier=tier, tier_label=found.rulebook.label(tier), list_state=found.list_state, rulebook_id=found.rulebook.id,
        screened=found.screened, total=len(found.items), passed=found.count("pass"), unknown=found.count("unknown"),
        items=[_candidate(item) for item in page],
        next_cursor=screening.encode_cursor(offset + limit) if more else None,
    )


def _mark_result(outcome: screening.MarkOutcome) -> MarkResultOut:
    return MarkResultOut(uscc=outcome.enterprise.uscc, tier=outcome.tier,
                         mark=MarkOut(**outcome.mark) if outcome.mark else None,
                         event=event_out(outcome.event) if outcome.event else None,
                         flags=dict(outcome.enterprise.flags or {}))


@router.post(
    "/api/v1/candidates/{tier}/marks", response_model=MarkResultOut,
    summary="置顶或移出后备清单 Pin a firm to, or drop it from, a candidate list",
    responses=problems(401, 403, 404, 409, 422),
    description="pin：无论评价结果总在清单上；drop：不再出现在清单上；clear：取消标记。须说明理由，记为 amendment 事件"
                "（证据 candidate_mark）。企业须处于该清单所收的状态（低一级）。"
                "需要规则库的 flag 权限（区县工信可操作）。"
                "pin keeps a firm on the list whatever its result, drop keeps it off, clear removes the mark. A reason "
                "is required (pin, drop); recorded as an amendment event (evidence `candidate_mark`). The firm must be "
                "in the list's state (one tier below); needs the rulebook's `flag` permission.",
)
def post_mark(tier: Tier, payload: MarkRequest, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
              request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    outcome = screening.mark_candidate(session, payload.uscc, tier=tier, action=payload.action, reason=payload.reason,
                                       actor=actor, request_id=request_id)
    return idem.finish(session, ModelResponse(_mark_result(outcome)))


@router.delete(
    "/api/v1/candidates/{tier}/marks/{uscc}", response_model=MarkResultOut,
    summary="取消后备清单标记 Clear a firm's mark on a candidate list", responses=problems(401, 403, 404, 422),
    description="取消置顶或移出标记（amendment 事件）；没有标记则 404。Clears the pin or drop (an amendment event); "
                "404 when the firm has no mark on this list.",
)
def delete_mark(
    tier: Tier, uscc: str, session: SessionDep, actor: CurrentActor, request_id: RequestId,
    reason: Annotated[Text | None, Query(max_length=2000, description="理由")] = None,
) -> MarkResultOut:
    outcome = screening.mark_candidate(session, uscc, tier=tier, action="clear", reason=reason, actor=actor,
                                       request_id=request_id)
    return _mark_result(outcome)

