"""The lists officials send upward: firms and the roster of valid titles, as .xlsx or CSV with Chinese headers.

Rows are streamed from one query (:func:`pipeline.db.stream_rows`) and written row by row (openpyxl's write-only
mode keeps rows in a temporary file), so an export of the whole province stays flat in memory. The scope is
always the actor's jurisdiction. The roster's headers are the ones :mod:`pipeline.imports.reading`
understands, so a roster exported from one system can be imported elsewhere with ``--action backfill``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.db import stream_rows
from pipeline.errors import InvalidInput
from pipeline.firms.repository import in_pool_on
from pipeline.identifiers import region_name, region_prefix, validate_region
from pipeline.lifecycle.machine import STATES
from pipeline.models import Enterprise, Recognition
from pipeline.rulebooks import TITLE_TIERS, rulebook_in_force, title_label
from pipeline.spreadsheet import csv_safe, xlsx_text_cell
from pipeline.titles.roster import export_rows, is_side_title_kind, side_title_kinds

FORMATS = ("xlsx", "csv")
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
YIELD_PER = 1000

ENTERPRISE_HEADERS = ("序号", "统一社会信用代码", "企业名称", "区划代码", "地区名称", "状态", "状态代码",
                      "称号有效期至", "最近变更日期")
ROSTER_HEADERS = ("序号", "统一社会信用代码", "企业名称", "区划代码", "地区名称", "称号", "层级代码", "认定日期",
                  "有效期至", "文号", "批次")


@dataclass(frozen=True)
class Table:
    title: str
    headers: Sequence[str]
    rows: Iterator[Sequence[Any]]


def _scope(actor: Actor, region: str | None) -> str | None:
    """The region prefix to filter on: the caller's jurisdiction, narrowed by ``region`` when it lies inside."""
    prefix = actor.region_prefix
    if region:
        wanted = region_prefix(validate_region(region, field="region"))
        if prefix is not None and not (wanted.startswith(prefix) or prefix.startswith(wanted)):
            raise InvalidInput(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction",
                               field="region")
        prefix = wanted if prefix is None or len(wanted) >= len(prefix) else prefix
    return prefix


def enterprises_table(session: Session, actor: Actor, *, state: str | None = None,
                      region: str | None = None) -> Table:
    if state is not None and state not in STATES[1:]:
        raise InvalidInput(f"未知状态 — unknown state {state!r}; states: {', '.join(STATES[1:])}", field="state")
    prefix = _scope(actor, region)
    today = business_today()
    book = rulebook_in_force(today)
    # the title the state stands for: the newest validity of an unended title of the firm's own tier
    title_until = (select(func.max(Recognition.valid_until))
                   .where(Recognition.enterprise_id == Enterprise.id, Recognition.tier == Enterprise.state,
                          Recognition.ended_on.is_(None))
                   .correlate(Enterprise).scalar_subquery())
    query = (select(Enterprise.uscc, Enterprise.name, Enterprise.region_code, Enterprise.state, title_until,
                    Enterprise.last_effective_date)
             .order_by(Enterprise.region_code, Enterprise.uscc))
    if prefix:
        query = query.where(Enterprise.region_code.startswith(prefix))
    if state:
        query = query.where(Enterprise.state == state)

    def rows() -> Iterator[Sequence[Any]]:
        for number, (uscc, name, region_code, firm_state, title, last_effective_date) in enumerate(
                stream_rows(session, query, YIELD_PER), start=1):
            yield (number, uscc, name, region_code, region_name(region_code) or "", book.label(firm_state),
                   firm_state, title, last_effective_date)

    return Table("企业名单", ENTERPRISE_HEADERS, rows())


def roster_table(session: Session, actor: Actor, *, tier: str | None = None, as_of: dt.date | None = None,
                 region: str | None = None) -> Table:
    """Titles valid on ``as_of`` (default today): recognised on or before it, not past validity, not ended.
    ``tier`` may be a side-title kind (``champion_enterprise`` …): then the holders of that kind."""
    side = is_side_title_kind(tier)
    if tier is not None and tier not in TITLE_TIERS and not side:
        raise InvalidInput(f"未知称号层级 — unknown tier {tier!r}; tiers: {', '.join(TITLE_TIERS)}; side titles: "
                           f"{', '.join(side_title_kinds())}", field="tier")
    day = as_of or business_today()
    book = rulebook_in_force(day)
    prefix = _scope(actor, region)
    if tier is not None and side:
        def side_rows() -> Iterator[Sequence[Any]]:
            for number, (uscc, name, region_code, kind, granted_on, valid_until, document_no) in enumerate(
                    export_rows(session, kind=tier, as_of=day, prefix=prefix, yield_per=YIELD_PER), start=1):
                yield (number, uscc, name, region_code, region_name(region_code) or "",
                       title_label(kind, granted_on), kind, granted_on, valid_until, document_no or "", "")

        return Table(f"{book.label(tier)}名单（{day.isoformat()}）", ROSTER_HEADERS, side_rows())
    query = (
        select(Enterprise.uscc, Enterprise.name, Enterprise.region_code, Recognition.tier, Recognition.recognized_on,
               Recognition.valid_until, Recognition.document_no, Recognition.batch)
        .join(Enterprise, Enterprise.id == Recognition.enterprise_id)
        .where(Recognition.valid_on_clause(day), in_pool_on(day))
        .order_by(Enterprise.region_code, Enterprise.uscc, Recognition.tier)
    )
    if prefix:
        query = query.where(Enterprise.region_code.startswith(prefix))
    if tier:
        query = query.where(Recognition.tier == tier)

    def rows() -> Iterator[Sequence[Any]]:
        labels: dict[tuple[str, dt.date], str] = {}  # a title's label depends on its tier and its rulebook's date
        for number, (uscc, name, region_code, tier, recognized_on, valid_until, document_no, batch) in enumerate(
                stream_rows(session, query, YIELD_PER), start=1):
            label = labels.get((tier, recognized_on))
            if label is None:
                label = labels[tier, recognized_on] = title_label(tier, recognized_on)
            yield (number, uscc, name, region_code, region_name(region_code) or "", label, tier, recognized_on,
                   valid_until, document_no or "", batch or "")

    title = f"{book.label(tier)}名单" if tier else "称号名单"
    return Table(f"{title}（{day.isoformat()}）", ROSTER_HEADERS, rows())


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def write(table: Table, fmt: str, out: IO[bytes]) -> int:
    """Write ``table`` to ``out`` as ``xlsx`` or ``csv``; returns the number of data rows."""
    if fmt not in FORMATS:
        raise InvalidInput(f"未知格式 — unknown format {fmt!r}; formats: {', '.join(FORMATS)}", field="format")
    return _write_xlsx(table, out) if fmt == "xlsx" else _write_csv(table, out)


def _write_csv(table: Table, out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")  # the BOM makes Excel read UTF-8
    try:
        writer = csv.writer(text)
        writer.writerow(table.headers)
        count = 0
        for row in table.rows:
            writer.writerow(["" if value is None else csv_safe(_cell(value)) for value in row])
            count += 1
        text.flush()
        return count
    finally:
        text.detach()


def _write_xlsx(table: Table, out: IO[bytes]) -> int:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=table.title[:31].replace("/", "-"))
    sheet.append(list(table.headers))
    count = 0
    try:
        for row in table.rows:
            sheet.append([xlsx_text_cell(sheet, value) for value in row])
            count += 1
    except BaseException:
        sheet.close()  # ends the sheet's row writer: left open, it fails later, in whoever collects it
        raise
    workbook.save(out)
    return count
