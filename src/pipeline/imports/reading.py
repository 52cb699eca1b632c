"""Reading published lists: .xlsx or .csv (UTF-8 with or without BOM, or GB18030) → normalised rows.

Published lists carry a merged title row or two above the header ("2025年河南省专精特新中小企业名单"), blank
trailing rows, full-width characters and stray spaces in codes, and numbers or dates where text was meant.
The header row is the first row with a recognised USCC header; everything above it is ignored. Rows are
yielded one at a time (openpyxl in read-only mode, csv line by line), so memory stays flat in the file size.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from pipeline.config import ImportLimits
from pipeline.errors import InvalidInput
from pipeline.imports.xlsx import clean_cells, xlsx_rows

#: field → the headers published lists use for it (compared after removing spaces, "*" and full-width forms).
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "uscc": ("统一社会信用代码", "信用代码", "社会信用代码", "统一代码", "uscc"),
    "name": ("企业名称", "单位名称", "企业", "name"),
    "region": ("所在地区", "区划代码", "行政区划代码", "所属地区", "所在地", "region", "region_code"),
    "batch": ("批次", "batch"),
    "document_no": ("文号", "认定文号", "document_no"),
    "effective_date": ("认定日期", "认定时间", "纳入日期", "effective_date", "recognized_on"),
    "valid_until": ("有效期至", "有效期", "valid_until"),
    "tier": ("层级", "称号", "tier"),
    "product": ("产品名称", "冠军产品", "产品", "product"),
    "funds_yuan": ("项目资金（元）", "项目资金", "支持资金（元）", "支持资金", "funds_yuan"),
}
FIELDS: tuple[str, ...] = tuple(FIELD_SYNONYMS)
IGNORED_HEADERS = ("序号", "编号", "备注")
HEADER_SEARCH_ROWS = 50
"""How far down a header row is looked for before the file is refused."""


def header_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s*:：]+", "", text).lower()


_SYNONYM_INDEX = {header_key(name): fld for fld, names in FIELD_SYNONYMS.items() for name in names}


def parse_mapping(pairs: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``--map 'HEADER=field'`` items → ``((header_key, field), ...)``; ``field`` may be ``ignore``."""
    result = []
    for pair in pairs:
        header, sep, target = pair.partition("=")
        target = target.strip()
        if not sep or not header.strip() or target not in (*FIELDS, "ignore"):
            raise InvalidInput(
                f"列映射应为“表头=字段” — --map expects 'HEADER=field' with field one of "
                f"{', '.join(FIELDS)}, ignore; got {pair!r}", field="map")
        result.append((header_key(header), target))
    return tuple(sorted(set(result)))


@dataclass
class SourceRow:
    """One data row of the file, its cells assigned to fields and cleaned; ``problems`` are cell errors."""

    number: int
    uscc: str = ""
    name: str = ""
    region: str = ""
    batch: str = ""
    document_no: str = ""
    effective_date: dt.date | None = None
    valid_until: dt.date | None = None
    tier: str = ""
    product: str = ""
    funds_yuan: int | None = None
    """A side-title grant's funds in yuan (重点“小巨人” project funds, which policy packs match)."""
    problems: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    if type(value) is str:  # every CSV cell, most .xlsx ones
        return value.replace("\u3000", " ").strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a region code typed as a number: 410106.0
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").strip()


_DATE_PATTERNS = (
    re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)


def parse_cell_date(value: Any, label: str) -> dt.date | None:
    """A date cell: an Excel date, or text such as 2025-06-30, 2025/6/30, 2025.6.30, 2025年6月30日, 20250630."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return _date_of_text(_text(value))
    except ValueError:
        text = unicodedata.normalize("NFKC", _text(value))
        raise ValueError(f"{label}“{text}”不是日期 — {label} {text!r} is not a date (YYYY-MM-DD, YYYY年M月D日 …)") \
            from None


@functools.lru_cache(maxsize=4096)
def _date_of_text(text: str) -> dt.date | None:
    """A date cell's text as a date (``None`` when blank), remembered: a list repeats a few dates on every row.
    Raises ``ValueError`` for text that is not a date (not remembered)."""
    text = unicodedata.normalize("NFKC", text)
    if not text:
        return None
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return dt.date(*(int(part) for part in match.groups()))  # ValueError for a day that does not exist
    raise ValueError(text)


@dataclass
class Header:
    row_number: int
    columns: dict[str, int]
    """field → column index."""
    ignored: list[str]
    """Headers that map to no field (shown in the report so a missed column is noticed)."""


def find_header(cells: Sequence[Any], row_number: int, mapping: Sequence[tuple[str, str]]) -> Header | None:
    overrides = dict(mapping)
    columns: dict[str, int] = {}
    ignored = []
    for index, cell in enumerate(cells):
        raw = _text(cell)
        if not raw:
            continue
        key = header_key(raw)
        target = overrides.get(key) or _SYNONYM_INDEX.get(key)
        if target is None or target == "ignore":
            if key not in {header_key(h) for h in IGNORED_HEADERS} and target != "ignore":
                ignored.append(raw)
            continue
        if target in columns:  # 所在地区 beside 区划代码: the first column read wins, the other is named
            ignored.append(raw)
            continue
        columns[target] = index
    if "uscc" not in columns:
        return None
    return Header(row_number, columns, ignored)


_TEXT_FIELDS = ("batch", "document_no", "tier", "product")
_DATE_FIELDS = (("effective_date", "认定日期"), ("valid_until", "有效期至"))


def to_source_row(number: int, cells: Sequence[Any], header: Header) -> SourceRow | None:
    """A data row as a :class:`SourceRow`, or ``None`` for a blank row (or a note row with neither code nor name).
    A field the header lacks keeps its default: what an empty cell gives."""
    columns = header.columns
    width = len(cells)

    def cell(name: str) -> Any:
        index = columns.get(name)
        return cells[index] if index is not None and index < width else None

    uscc = _text(cell("uscc"))
    name = _text(cell("name"))
    if not uscc and not name:
        return None
    row = SourceRow(number=number, uscc=uscc, name=name)
    if "region" in columns:
        row.region = unicodedata.normalize("NFKC", _text(cell("region"))).replace(" ", "")
    for text_field in _TEXT_FIELDS:
        if text_field in columns:
            setattr(row, text_field, _text(cell(text_field)))
    funds = _text(cell("funds_yuan")).replace(",", "").replace("，", "") if "funds_yuan" in columns else ""
    if funds:
        if re.fullmatch(r"\d{1,13}", funds):
            row.funds_yuan = int(funds)
        else:
            row.problems.append(f"项目资金应为整数（元），实为{funds!r} — funds_yuan must be whole yuan, got {funds!r}")
    for date_field, label in _DATE_FIELDS:
        if date_field in columns:
            try:
                setattr(row, date_field, parse_cell_date(cell(date_field), label))
            except ValueError as exc:
                row.problems.append(str(exc))
    return row


class ImportFile:
    """An uploaded or local file: its name, SHA-256, kind and (for CSV) encoding, read in one pass up front."""

    CHUNK = 1 << 16

    def __init__(self, stream: IO[bytes], file_name: str, limits: ImportLimits | None = None) -> None:
        self.stream = stream
        self.limits = limits or ImportLimits.from_env()
        self.file_name = file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or "upload"
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        utf8 = True
        head = b""
        stream.seek(0)
        while chunk := stream.read(self.CHUNK):
            digest.update(chunk)
            if len(head) < 4:
                head += chunk[:4]
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
        self.sha256 = digest.hexdigest()
        suffix = self.file_name.lower().rsplit(".", 1)[-1] if "." in self.file_name else ""
        if head.startswith(b"PK\x03\x04") or suffix in ("xlsx", "xlsm"):
            self.kind = "xlsx"
        elif suffix in ("xls",):
            raise InvalidInput("不支持旧版 .xls 文件，请另存为 .xlsx 或 CSV — .xls (Excel 97) is not read; save the "
                               "sheet as .xlsx or CSV", field="file")
        else:
            self.kind = "csv"
        self.encoding = "utf-8-sig" if utf8 else "gb18030"
        self.header: Header | None = None

    def cells(self) -> Iterator[tuple[int, Sequence[Any]]]:
        """(row number as a spreadsheet shows it, cell values) for every row, blank ones included."""
        self.stream.seek(0)
        if self.kind == "xlsx":
            yield from self._xlsx_cells()
            return
        text = io.TextIOWrapper(self.stream, encoding=self.encoding, errors="replace", newline="")
        try:
            for number, cells in enumerate(csv.reader(text), start=1):
                yield number, clean_cells(number, cells)
        except csv.Error as exc:
            raise InvalidInput(f"CSV 文件格式错误 — the CSV cannot be read: {exc}", field="file") from None
        finally:
            text.detach()

    def _xlsx_cells(self) -> Iterator[tuple[int, Sequence[Any]]]:
        for number, cells in xlsx_rows(self.stream, self.limits):
            yield number, clean_cells(number, cells)

    def rows(self, mapping: Sequence[tuple[str, str]] = ()) -> Iterator[SourceRow]:
        """The data rows below the header row, blank rows skipped. Raises if no header row is found."""
        header: Header | None = None
        for number, cells in self.cells():
            if header is None:
                header = find_header(cells, number, mapping)
                if header is None and number >= HEADER_SEARCH_ROWS:
                    break
                if header is not None:
                    self.header = header
                continue
            row = to_source_row(number, cells, header)
            if row is not None:
                yield row
        if header is None:
            raise InvalidInput(
                f"前{HEADER_SEARCH_ROWS}行中未找到含“统一社会信用代码”的表头行 — no header row with a USCC column "
                f"(统一社会信用代码/信用代码/社会信用代码) in the first {HEADER_SEARCH_ROWS} rows; name the column "
                f"with --map 'HEADER=uscc'", field="file")
