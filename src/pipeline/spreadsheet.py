"""Cells safe to open in Excel: exported text never runs as a formula, and re-imports unchanged.

CSV: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``
(OWASP's advice against CSV injection); numbers, dates and booleans are written as they are. The importer
(:func:`pipeline.imports.xlsx.clean_cells`) takes one leading ``'`` off before those characters, so an
exported list re-imports unchanged. ``.xlsx``: every text value is written as a string cell — never a
formula — with nothing added.
"""

from __future__ import annotations

from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """``value`` for a CSV cell: text that a spreadsheet would read as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def strip_csv_guard(value: str) -> str:
    """The inverse of :func:`csv_safe` on text read back: one ``'`` before a formula character comes off."""
    if value.startswith("'") and value[1:2] and value[1:2] in FORMULA_PREFIXES:
        return value[1:]
    return value


def xlsx_text_cell(sheet: Any, value: Any) -> Any:
    """``value`` for openpyxl's write-only ``sheet.append``: text as a string cell, never a formula."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]  # openpyxl only when writing xlsx

    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    return cell
