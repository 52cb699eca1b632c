"""Importing a list of side titles (``pipeline import FILE --action grant_side_title --kind KIND``).

Each row goes through :func:`pipeline.titles.service.grant` — the API's own path — inside a savepoint of its
own, so a refused row leaves nothing behind and the next row sees exactly what the earlier rows did. The
import engine supplies the rest (the run record, dry run, all or nothing, "already imported"). A row whose
title (kind, grant date, document number) is already recorded is unchanged; for a kind the rulebook marks
``enrolls_unknown_firms`` (高新技术企业) a firm not yet known is enrolled into the reserve pool first,
dated its grant date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.errors import InvalidInput, PipelineError
from pipeline.firms import service as firms
from pipeline.identifiers import region_of_uscc, validate_uscc
from pipeline.imports.reading import SourceRow
from pipeline.imports.regions import resolve_region
from pipeline.imports.report import OK, PROBLEM, UNCHANGED, RowReport
from pipeline.models import Enterprise, SideTitle
from pipeline.rulebooks import rulebook_in_force
from pipeline.titles import service
from pipeline.titles.replay import GRANT

ENROLL_REASON: Final = ("高新技术企业纳入创新型中小企业后备清单（郑工信企业〔2025〕4号） — newly certified high-tech "
                        "firm enrolled in the reserve pool")


def import_rows(
    session: Session, rows: Iterable[SourceRow], *, kind: str, actor: Actor, document_no: str | None,
    effective_date: dt.date | None, source: dict[str, Any], request_id: str | None,
) -> Iterator[tuple[RowReport, int]]:
    """Each row's verdict and the number of events it wrote. ``source`` (file name, hash, run id) goes into
    every event's evidence under ``import``, with the row number."""
    seen: dict[tuple[str, dt.date, str], int] = {}
    for row in rows:
        code = row.uscc
        try:
            code = validate_uscc(row.uscc)
            if row.problems:
                raise InvalidInput("; ".join(row.problems))
            day = row.effective_date or effective_date
            if day is None:
                raise InvalidInput("缺少授予日期：行内无“认定日期”，也未指定 --effective-date — the row has no "
                                   "认定日期 and no --effective-date was given", field="effective_date")
            document = (row.document_no or document_no or "").strip()
            key = (code, day, document)
            if key in seen:
                raise InvalidInput(f"与第{seen[key]}行重复 — duplicate of row {seen[key]} (same firm, date and "
                                   f"document number)")
            seen[key] = row.number
            with session.begin_nested():
                outcome, events = _row(session, row, code, day, document, kind=kind, actor=actor,
                                       evidence={"import": {**source, "row": row.number}}, request_id=request_id)
            yield RowReport(row.number, code, row.name, OK if events else UNCHANGED, outcome), events
        except PipelineError as exc:
            yield RowReport(row.number, code, row.name, PROBLEM, "—", exc.detail), 0


def _row(session: Session, row: SourceRow, code: str, day: dt.date, document: str, *, kind: str, actor: Actor,
         evidence: dict[str, Any], request_id: str | None) -> tuple[str, int]:
    steps: list[str] = []
    firm_id = session.scalar(select(Enterprise.id).where(Enterprise.uscc == code))
    if firm_id is None and service.side_title_kind(rulebook_in_force(day), kind).enrolls_unknown_firms:
        region = resolve_region(row.region) if row.region else region_of_uscc(code)
        if not row.name.strip():
            raise InvalidInput("企业名称不能为空 — the row has no 企业名称 (needed to enroll a new firm)", field="name")
        firms.enroll(session, uscc=code, name=row.name, region_code=region, effective_date=day,
                     reason=ENROLL_REASON, actor=actor, request_id=request_id, evidence=evidence)
        steps.append(f"enroll → reserve ({day.isoformat()})")
    elif firm_id is not None and session.scalar(select(SideTitle.id).where(
            SideTitle.enterprise_id == firm_id, SideTitle.kind == kind, SideTitle.granted_on == day,
            SideTitle.document_no == document)) is not None:
        return (f"无变化：该称号（{kind}，{day}）已有记录 — no change: the {kind} title granted on {day} is "
                f"already recorded"), 0
    if row.funds_yuan is not None:
        evidence = {**evidence, "funds_yuan": row.funds_yuan}
    outcome = service.grant(session, code, kind=kind, granted_on=day, document_no=document, actor=actor,
                            valid_until=row.valid_until, product=row.product or None, evidence=evidence,
                            request_id=request_id, awards="none")  # the import derives them after its rows
    steps.append(f"{GRANT}: {kind} {day.isoformat()} → {outcome.side_title.valid_until.isoformat()}")
    return "; ".join(steps), len(steps)
