"""The row-by-row report of an import, and its CSV form (to open beside the original file)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from pipeline.spreadsheet import csv_safe

OK = "ok"
UNCHANGED = "unchanged"
PROBLEM = "problem"

#: CSV column → RowReport attribute. Chinese first: the report is read beside a Chinese list.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("行号", "row"),
    ("统一社会信用代码", "uscc"),
    ("企业名称", "name"),
    ("结果", "status"),
    ("处理", "outcome"),
    ("问题", "problem"),
)


@dataclass
class RowReport:
    """What a row does (or would do) — ``status`` ok / unchanged / problem — and, if a problem, why."""

    row: int
    uscc: str
    name: str
    status: str
    outcome: str
    problem: str | None = None


@dataclass
class ImportSummary:
    file_name: str
    file_sha256: str
    action: str
    options: dict[str, Any]
    dry_run: bool
    applied: bool
    """True only when this call wrote the file's events (apply, no problem rows, not imported before)."""
    already_imported_by: int | None
    """The earlier run that imported this file with these options, when this call found one."""
    run_id: int | None
    rows: int = 0
    ok: int = 0
    unchanged: int = 0
    problems: int = 0
    events: int = 0
    entitlements: int = 0
    """Entitlements derived for the imported history (see ``awards``)."""
    ignored_headers: list[str] = field(default_factory=list)

    def count(self, report: RowReport) -> None:
        self.rows += 1
        if report.status == OK:
            self.ok += 1
        elif report.status == UNCHANGED:
            self.unchanged += 1
        else:
            self.problems += 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CSV_HEADER: tuple[str, ...] = tuple(label for label, _ in CSV_COLUMNS)


def csv_row(report: RowReport) -> list[Any]:
    """One report row as CSV cells, text neutralised against formula injection (see :mod:`pipeline.spreadsheet`)."""
    return [csv_safe("" if getattr(report, attr) is None else getattr(report, attr)) for _, attr in CSV_COLUMNS]


def csv_lines(reports: Iterable[RowReport]) -> Iterator[str]:
    """The report as CSV text, header first (UTF-8 with BOM when written to a file, so Excel reads it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for report in reports:
        writer.writerow(csv_row(report))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


class ReportSpool:
    """Row reports kept in a temporary file (one JSON line each), not in memory: a 200,000-row report is read
    back from disk while the response streams. Use as the import's ``sink``; close it when the response is done."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 — closed by close()
        self.count = 0

    def __call__(self, report: RowReport) -> None:
        self.file.write(json.dumps(asdict(report), ensure_ascii=False).encode("utf-8") + b"\n")
        self.count += 1

    def reports(self) -> Iterator[RowReport]:
        self.file.seek(0)
        for line in self.file:
            yield RowReport(**json.loads(line))

    def json_items(self) -> Iterator[bytes]:
        """The reports as the items of a JSON array, comma-separated (the caller writes the brackets)."""
        self.file.seek(0)
        for index, line in enumerate(self.file):
            yield (b"," if index else b"") + line.rstrip(b"\n")

    def close(self) -> None:
        self.file.close()
