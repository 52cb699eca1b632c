"""/api/v1/imports and /api/v1/exports — official lists in (row by row, all or nothing) and out (.xlsx, CSV)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from api.deps import CurrentActor, RequestId, SessionDep, StrictQuery
from api.problems import problem_response
from api.responses import problems
from api.schemas import IsoDate
from pipeline.dates import business_today
from pipeline.imports import ImportFile, ImportOptions, RowReport, parse_mapping, run_import
from pipeline.imports import exports as export_lists
from pipeline.imports.engine import ACTIONS
from pipeline.imports.report import csv_lines

router = APIRouter(tags=["imports 导入导出"], dependencies=[StrictQuery])

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
ImportAction = Literal[ACTIONS]  # type: ignore[valid-type]
ExportFormat = Literal["xlsx", "csv"]


class ImportRowOut(BaseModel):
    row: int = Field(description="行号 — the row number as the spreadsheet shows it")
    uscc: str
    name: str
    status: Literal["ok", "unchanged", "problem"]
    outcome: str = Field(description="处理 — what the row does (or would do), e.g. `enroll → reserve (2025-01-10)`")
    problem: str | None = Field(description="问题 — why the row cannot be applied")


class ImportReportOut(BaseModel):
    """导入报告 — the row-by-row report of an import (a dry run unless `dry_run=false`)."""

    model_config = {"json_schema_extra": {"examples": [{
        "file_name": "2025年上街区培育库.xlsx", "file_sha256": "9f2c…", "action": "enroll",
        "options": {"batch": None, "document_no": None, "effective_date": "2025-03-01", "map": []},
        "dry_run": True, "applied": False, "already_imported_by": None, "run_id": None, "rows": 2, "ok": 1,
        "unchanged": 0, "problems": 1, "events": 1, "ignored_headers": [],
        "items": [
            {"row": 3, "uscc": "91410106MA44PB8G3D", "name": "郑州上街精密制造有限公司", "status": "ok",
             "outcome": "enroll → reserve (2025-03-01)", "problem": None},
            {"row": 4, "uscc": "91410106MA44PB8G30", "name": "某某公司", "status": "problem", "outcome": "—",
             "problem": "第18位校验码应为'D'，实为'0' — check character 18 of … is '0', expected 'D'"},
        ]}]}}

    file_name: str
    file_sha256: str
    action: str
    options: dict[str, Any]
    dry_run: bool
    applied: bool = Field(description="true when this request wrote the file's events")
    already_imported_by: int | None = Field(description="the earlier run that imported this very file")
    run_id: int | None
    rows: int
    ok: int
    unchanged: int
    problems: int
    events: int
    ignored_headers: list[str]
    items: list[ImportRowOut]


def _report(summary: Any, rows: list[RowReport]) -> dict[str, Any]:
    body: dict[str, Any] = {**summary.as_dict(), "items": [vars(row) for row in rows]}
    return ImportReportOut.model_validate(body).model_dump(mode="json")


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
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        return problem_response("payload-too-large", f"文件超过{MAX_UPLOAD_BYTES // 2**20} MB — the file exceeds "
                                f"{MAX_UPLOAD_BYTES // 2**20} MB; split it", request)
    options = ImportOptions(action=action, batch=batch, document_no=document_no, effective_date=effective_date,
                            mapping=parse_mapping(map or []), kind=kind)
    source = ImportFile(file.file, file.filename or "upload.csv")
    rows: list[RowReport] = []
    summary = run_import(session, source, options, actor, apply=not dry_run, sink=rows.append,
                         request_id=request_id)
    if not dry_run and summary.problems:
        return problem_response(
            "import-rejected",
            f"{summary.problems}行有问题，未写入任何数据 — {summary.problems} of {summary.rows} rows have problems; "
            f"nothing was written", request, report=_report(summary, rows))
    if accept and "text/csv" in accept:
        return Response("\ufeff" + "".join(csv_lines(rows)), media_type=CSV_MEDIA_TYPE, headers={
            "Content-Disposition": _disposition(f"report-{source.file_name.rsplit('.', 1)[0]}.csv")})
    return JSONResponse(_report(summary, rows))


def _disposition(file_name: str) -> str:
    ascii_name = file_name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"


def _stream(table: export_lists.Table, fmt: str, stem: str) -> StreamingResponse:
    """Write the list to a spooled temporary file while the session is open, then stream it out."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 — closed below
    try:
        export_lists.write(table, fmt, spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := spool.read(CHUNK_BYTES):
                yield chunk
        finally:
            spool.close()

    name = f"{stem}-{business_today().isoformat()}.{fmt}"
    return StreamingResponse(chunks(), media_type=export_lists.MEDIA_TYPES[fmt],
                             headers={"Content-Disposition": _disposition(name)})


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {export_lists.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
                      "text/csv": {"schema": {"type": "string"}}},
          "description": "名单文件 — the list as .xlsx or CSV (UTF-8 with BOM), Chinese headers"},
    **problems(401, 422),
}


@router.get(
    "/api/v1/exports/enterprises", response_class=StreamingResponse, responses=_FILE_RESPONSES,
    summary="导出企业名单 Export firms",
    description="辖区内企业名单（可按状态、区划筛选），.xlsx 或 CSV，中文表头。Firms in the caller's jurisdiction, "
                "optionally one state or a narrower region, as .xlsx or CSV with Chinese headers.",
)
def export_enterprises(
    session: SessionDep, actor: CurrentActor,
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
    session: SessionDep, actor: CurrentActor,
    format: Annotated[ExportFormat, Query(description="xlsx or csv")] = "xlsx",
    tier: Annotated[str | None, Query(max_length=32, description="层级 innovative/provincial/national, or a "
                                                               "side-title kind (champion_enterprise …)")] = None,
    as_of: Annotated[IsoDate | None, Query(description="有效日期 — default today")] = None,
    region: Annotated[str | None, Query(max_length=6, description="区划代码 within your jurisdiction")] = None,
) -> StreamingResponse:
    table = export_lists.roster_table(session, actor, tier=tier, as_of=as_of, region=region)
    return _stream(table, format, f"roster-{tier or 'all'}-{(as_of or business_today()).isoformat()}")
