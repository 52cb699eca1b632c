"""/console/imports — upload a list, read the dry run row by row, then apply it (all or nothing).

The pages call :func:`pipeline.imports.run_import`, as ``POST /api/v1/imports`` does. Between the dry run
and the apply the file travels back in the form (base64, with its SHA-256), so the server keeps no upload
state; a file larger than :data:`MAX_CONSOLE_BYTES` belongs to the API or the CLI.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from api.console.pages import check_csrf, problem_of, render, signed_in
from api.console.session import ConsoleExit, ConsoleRoute, ConsoleSession
from api.deps import SessionDep
from pipeline.dates import parse_date
from pipeline.errors import InvalidInput, PipelineError
from pipeline.imports import ACTIONS, ImportFile, ImportOptions, RowReport, run_import
from pipeline.rulebooks import all_rulebooks

MAX_CONSOLE_BYTES = 700 * 1024
"""The dry-run file travels back base64-encoded in one form field, and Starlette caps a field at 1 MB."""
LIMIT_LABEL = f"{MAX_CONSOLE_BYTES // 1024} KB"
ACTION_LABELS = {"enroll": "纳入培育库", "recognize_innovative": "认定名单：创新型",
                 "recognize_provincial": "认定名单：省级专精特新", "recognize_national": "认定名单：国家级小巨人",
                 "renew": "复核通过名单", "backfill": "历史称号补录",
                 "grant_side_title": "并列称号名单（选择称号类别）"}

SIDE_TITLE_KINDS = {kind: spec.label for kind, spec in all_rulebooks()[-1].side_titles.items()}

router = APIRouter(route_class=ConsoleRoute)


def _options(action: str, batch: str, document_no: str, effective_date: str, kind: str = "") -> ImportOptions:
    return ImportOptions(action=action, batch=batch.strip() or None, document_no=document_no.strip() or None,
                         effective_date=parse_date(effective_date, field="effective_date")
                         if effective_date.strip() else None, kind=kind.strip() or None)


def _writers_only(request: Request, current: ConsoleSession) -> None:
    """Auditors read; the import page is not theirs (the menu does not offer it either)."""
    if current.actor is not None and current.actor.role == "auditor":
        raise ConsoleExit(render(request, "error.html", 403, title="无权操作",
                                 message="审计人员只读，不能导入名单。"))


@router.get("/imports")
def import_page(request: Request, session: SessionDep) -> Response:
    _writers_only(request, signed_in(request, session))
    return render(request, "imports.html", actions=ACTION_LABELS, kinds=SIDE_TITLE_KINDS, values={}, report=None,
                  problem=None, payload=None, limit=LIMIT_LABEL)


@router.post("/imports")
def import_submit(
    request: Request, session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    payload: Annotated[str, Form(max_length=MAX_CONSOLE_BYTES * 4 // 3 + 4)] = "",
    file_name: Annotated[str, Form(max_length=255)] = "",
    file_sha256: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[str, Form(max_length=32)] = "enroll",
    batch: Annotated[str, Form(max_length=100)] = "",
    document_no: Annotated[str, Form(max_length=100)] = "",
    effective_date: Annotated[str, Form(max_length=20)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    apply: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    current = signed_in(request, session)
    check_csrf(request, current, csrf_token)
    _writers_only(request, current)
    assert current.actor is not None
    values = {"action": action, "batch": batch, "document_no": document_no, "effective_date": effective_date,
              "kind": kind}
    rows: list[RowReport] = []
    summary: Any = None
    try:
        if payload:  # the apply step: the very file the dry run showed
            try:
                content = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("上传内容已损坏，请重新上传 — the file data is corrupt; upload again") from None
            if hashlib.sha256(content).hexdigest() != file_sha256:
                raise InvalidInput("文件与预演时不一致，请重新上传 — the file differs from the dry run; upload again")
        else:
            if file is None or not file.filename:
                raise InvalidInput("请选择要导入的文件 — choose a file to import", field="file")
            content = file.file.read(MAX_CONSOLE_BYTES + 1)
            file_name = file.filename
        if len(content) > MAX_CONSOLE_BYTES:
            raise InvalidInput(f"网页导入限{LIMIT_LABEL}，更大的文件请用 API 或命令行 — the console takes files "
                               f"up to {LIMIT_LABEL}; use the API or the CLI", field="file")
        options = _options(action, batch, document_no, effective_date, kind)
        source = ImportFile(io.BytesIO(content), file_name)
        wants_apply = apply == "yes" and bool(payload)
        with session.begin_nested() as savepoint:
            summary = run_import(session, source, options, current.actor, apply=wants_apply, sink=rows.append)
            if not summary.applied:
                savepoint.rollback()  # a dry run (or a refused apply) leaves nothing behind
    except PipelineError as exc:
        problem = problem_of(exc)
        return render(request, "imports.html", problem["status"], actions=ACTION_LABELS, kinds=SIDE_TITLE_KINDS,
                      values=values, report=None, rows=[], problem=problem, payload=None,
                      limit=LIMIT_LABEL)
    carry = None
    if not summary.applied and not summary.problems and summary.ok:
        carry = {"payload": base64.b64encode(content).decode("ascii"), "file_name": source.file_name,
                 "file_sha256": source.sha256}
    return render(request, "imports.html", 422 if summary.problems else 200,
                  actions=ACTION_LABELS, kinds=SIDE_TITLE_KINDS, values=values, report=summary, rows=rows,
                  problem=None, payload=carry,
                  limit=LIMIT_LABEL)


assert set(ACTION_LABELS) == set(ACTIONS), "every import action needs a label on the page"
