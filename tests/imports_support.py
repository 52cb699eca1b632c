"""Real-looking published lists for the import tests: a merged title row above the header, full-width
characters and stray spaces in codes, blank trailing rows — as .xlsx (openpyxl) or CSV (UTF-8 or GB18030)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
from helpers import make_uscc
from sqlalchemy.orm import Session, sessionmaker

from pipeline.access import Actor
from pipeline.db import unit_of_work
from pipeline.imports import ImportFile, ImportOptions, ImportSummary, RowReport, run_import

TITLE = "2025年郑州市专精特新中小企业名单"
HEADER = ("序号", "统一社会信用代码", "企业名称", "所在地区", "认定日期", "文号")


def full_width(text: str) -> str:
    """ASCII letters and digits as their full-width forms (Ａ, １), the way some lists are typed."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def messy(code: str) -> str:
    """A valid code as a list might print it: full-width first half, a space in the middle, lower case."""
    return full_width(code[:6]) + " " + code[6:12] + "  " + code[12:].lower() + " "


def bad_check(code: str) -> str:
    """The same code with a wrong check character."""
    return code[:17] + ("0" if code[17] != "0" else "1")


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], *, header: Sequence[str] = HEADER,
               title: str = TITLE, trailing_blank: int = 3) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    for _ in range(trailing_blank):
        sheet.append([None] * len(header))
    workbook.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[Any]], *, header: Sequence[str] = HEADER, title: str = TITLE,
              encoding: str = "gb18030") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title] + [""] * (len(header) - 1))
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    writer.writerow([""] * len(header))
    writer.writerow([""] * len(header))
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def do_import(factory: sessionmaker[Session], path: Path, actor: Actor, action: str, *, apply: bool = False,
              **options: Any) -> tuple[ImportSummary, list[RowReport]]:
    rows: list[RowReport] = []
    with unit_of_work(factory) as session, path.open("rb") as stream:
        summary = run_import(session, ImportFile(stream, path.name), ImportOptions(action=action, **options), actor,
                             apply=apply, sink=rows.append)
    return summary, rows


def by_row(rows: list[RowReport]) -> dict[int, RowReport]:
    return {row.row: row for row in rows}


__all__ = ["bad_check", "by_row", "do_import", "full_width", "make_uscc", "messy", "write_csv", "write_xlsx"]
