"""/api/v1/imports and /api/v1/exports — official lists in (row by row, all or nothing) and out (.xlsx, CSV)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from api import files
from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.problems import PROBLEM_MEDIA_TYPE, problem_body, problem_response
from api.replica import ReadSessionDep
from api.responses import problems
from api.schemas.common import IsoDate
from api.schemas.imports import ImportReportOut
from pipeline.dates import business_today
from pipeline.imports import ImportFile, ImportOptions, ImportSummary, parse_mapping, run_import
from pipeline.imports import exports as export_lists
from pipeline.imports.engine import ACTIONS, ImportAbandoned
from pipeline.imports.report import ReportSpool, csv_lines

router = APIRouter(tags=["imports 导入导出"], route_class=StrictQueryRoute)

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
ImportAction = Literal[ACTIONS]  # type: ignore[valid-type]
ExportFormat = Literal["xlsx", "csv"]




def _summary(summary: ImportSummary) -> dict[str, Any]:
    body: dict[str, Any] = {**summary.as_dict(), "items": []}
    return ImportReportOut.model_validate(body).model_dump(mode="json")


def _json_report(summary: ImportSummary, spool: ReportSpool) -> Iterator[bytes]:
    """The report as JSON, its items read back from the spool (the summary first, as ImportReportOut has it)."""
    head = json.dumps(_summary(summary), ensure_ascii=False).encode("utf-8")
    yield head[:head.rindex(b"[") + 1]
    yield from spool.json_items()
    yield b"]}"


def _streamed(chunks: Iterator[bytes], spool: ReportSpool, **kwargs: Any) -> StreamingResponse:
    def body() -> Iterator[bytes]:
        try:
            yield from chunks
        finally:
            spool.close()

    return StreamingResponse(body(), **kwargs)


@router.post(
    "/api/v1/imports", response_model=ImportReportOut,
    summary="导入名单 Import a recognition list or history",
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}},
              "description": "报告 — the report as JSON, or as CSV with `Accept: text/csv`"},
        **problems(401, 409, 413, 422),
    },
    description=(
        "上传 .xlsx 或 CSV（UTF-8/GB18030）名单，逐行校验并报告每行的处理结果。默认 `dry_run=true` 只预演不写入；"
        "`dry_run=false` 时整份文件全部写入或全不写入：任何一行有问题则不写入，返回 422 `import-rejected` 并附报告。"
        "同一文件（SHA-256 相同、选项相同）再次导入不产生任何变化。\n\n"
        "Upload a list; every row is checked and reported. `dry_run` (default true) writes nothing. With "
        "`dry_run=false` the file is applied all or nothing: any problem row → 422 `import-rejected` with the "
        "report, nothing written. Re-uploading the same file with the same options changes nothing, which is "
        "what makes a retried upload safe (an `Idempotency-Key` is not used here: a multipart body differs per "
        "attempt by its boundary). `Accept: text/csv` returns the report as CSV to open beside the original."),
)
def post_import(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    request_id: RequestId,
    file: Annotated[UploadFile, File(description="名单文件 — .xlsx or .csv")],
    action: Annotated[ImportAction, Form(description="enroll, recognize_innovative, recognize_provincial, "
                                                     "recognize_national, renew, backfill or grant_side_title")],
    kind: Annotated[str | None, Form(max_length=32, description="并列称号类别 — the side-title kind of "
                                                                "grant_side_title")] = None,
    batch: Annotated[str | None, Form(max_length=100, description="批次 for rows without one")] = None,
    document_no: Annotated[str | None, Form(max_length=100, description="文号 for rows without one")] = None,
    effective_date: Annotated[IsoDate | None, Form(description="认定日期 for rows without one")] = None,
    map: Annotated[list[str] | None, Form(description="`HEADER=field` column mappings")] = None,
    dry_run: Annotated[bool, Form(description="预演 — true (default) writes nothing")] = True,
    awards: Annotated[Literal["owed", "settled", "none"] | None, Form(description=(
        "奖励：owed 待审批拨付；settled 已在系统外拨付（settled_outside_system）；none 不生成。"
        "默认 backfill 为 settled，其余为 owed — what the imported history is owed under the policy packs"))] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        return problem_response("payload-too-large", f"文件超过{MAX_UPLOAD_BYTES // 2**20} MB — the file exceeds "
                                f"{MAX_UPLOAD_BYTES // 2**20} MB; split it", request)
    options = ImportOptions(action=action, batch=batch, document_no=document_no, effective_date=effective_date,
                            mapping=parse_mapping(map or []), kind=kind, awards=awards)
    source = ImportFile(file.file, file.filename or "upload.csv")
    spool = ReportSpool()

    def client_gone() -> bool:
        """Asked before each chunk: a client that hung up gets no more parsing (this route runs in a thread)."""
        return bool(anyio.from_thread.run(request.is_disconnected))

    try:
        summary = run_import(session, source, options, actor, apply=not dry_run, sink=spool,
                             request_id=request_id, should_stop=client_gone)
    except ImportAbandoned:
        spool.close()
        return Response(status_code=499)  # nginx's "client closed request": nobody is there to read it
    except BaseException:
        spool.close()
        raise
    if not dry_run and summary.problems:
        problem = problem_body(
            "import-rejected",
            f"{summary.problems}行有问题，未写入任何数据 — {summary.problems} of {summary.rows} rows have problems; "
            f"nothing was written", request.url.path)
        head = json.dumps(problem, ensure_ascii=False).encode("utf-8")
        chunks = iter([head[:-1] + b',"report":', *_json_report(summary, spool), b"}"])
        return _streamed(chunks, spool, status_code=422, media_type=PROBLEM_MEDIA_TYPE)
    if accept and "text/csv" in accept:
        lines = (line.encode("utf-8") for line in csv_lines(spool.reports()))
        return _streamed(_bom(lines), spool, media_type=CSV_MEDIA_TYPE,
                         headers=files.attachment(f"report-{source.file_name.rsplit('.', 1)[0]}.csv"))
    return _streamed(_json_report(summary, spool), spool, media_type="application/json")


def _bom(lines: Iterator[bytes]) -> Iterator[bytes]:
    yield "\ufeff".encode()
    yield from lines


def _stream(table: export_lists.Table, fmt: str, stem: str) -> StreamingResponse:
    return files.table_response(table, fmt, f"{stem}-{business_today().isoformat()}.{fmt}")


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: files.file_response("名单文件 — the list as .xlsx or CSV (UTF-8 with BOM), Chinese headers"),
    **problems(401, 422),
}


@router.get(
    "/api/v1/exports/enterprises", response_class=StreamingResponse, responses=_FILE_RESPONSES,
    summary="导出企业名单 Export firms",
    description="辖区内企业名单（可按状态、区划筛选），.xlsx 或 CSV，中文表头。Firms in the caller's jurisdiction, "
                "optionally one state or a narrower region, as .xlsx or CSV with Chinese headers.",
)
def export_enterprises(
    session: ReadSessionDep, actor: CurrentActor,
    format: Annotated[ExportFormat, Query(description="xlsx or csv")] = "xlsx",
    state: Annotated[str | None, Query(max_length=16, description="状态 — state code")] = None,
    region: Annotated[str | None, Query(max_length=6, description="区划代码 within your jurisdiction")] = None,
) -> StreamingResponse:
    table = export_lists.enterprises_table(session, actor, state=state, region=region)
    return _stream(table, format, f"enterprises-{region or actor.region_code or 'all'}")


@router.get(
    "/api/v1/exports/roster", response_class=StreamingResponse, responses=_FILE_RESPONSES,
    summary="导出称号名单 Export the roster of valid titles",
    description="某日有效的称号名单（认定日期≤该日≤有效期至，且未终止），.xlsx 或 CSV，中文表头，可作为 backfill 导入。"
                "Titles valid on `as_of` (default today) in the caller's jurisdiction; the headers are the ones "
                "`POST /api/v1/imports` reads, so the file can be imported elsewhere with `action=backfill`.",
)
def export_roster(
    session: ReadSessionDep, actor: CurrentActor,
    format: Annotated[ExportFormat, Query(description="xlsx or csv")] = "xlsx",
    tier: Annotated[str | None, Query(max_length=32, description="层级 innovative/provincial/national, or a "
                                                               "side-title kind (champion_enterprise …)")] = None,
    as_of: Annotated[IsoDate | None, Query(description="有效日期 — default today")] = None,
    region: Annotated[str | None, Query(max_length=6, description="区划代码 within your jurisdiction")] = None,
) -> StreamingResponse:
    table = export_lists.roster_table(session, actor, tier=tier, as_of=as_of, region=region)
    return _stream(table, format, f"roster-{tier or 'all'}-{(as_of or business_today()).isoformat()}")
