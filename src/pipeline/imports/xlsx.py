"""Reading an uploaded .xlsx without trusting it: limits checked before inflating, rows parsed in flat memory.

A zip of 1 MB can declare members of a gigabyte, or a shared-string table of twenty million items that
openpyxl would hold in a list. So before openpyxl opens the workbook, the zip's central directory is
checked against :class:`pipeline.config.ImportLimits` (member count, total declared size, compression
ratio, the size of every XML part openpyxl parses whole) and the shared strings are counted by streaming
over them. ``zipfile`` never inflates a member past its declared size (a member that lies fails its CRC),
so those declared sizes bound what is inflated later. Anything that breaks is a 422 ``file-too-large``
(a limit) or ``invalid-file`` (broken structure, naming the sheet and cell when known) — never a 500.

The first sheet's rows are read by our own loop over ``iterparse`` (events start/end, every finished
element dropped from its parent), with openpyxl's own cell parser for each ``<c>``: openpyxl's read-only
loop keeps a dict per row with attributes and never drops finished rows from the tree.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from typing import IO, Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from pipeline.config import MIB, ImportLimits
from pipeline.errors import FileTooLarge, InvalidFile, PipelineError
from pipeline.spreadsheet import strip_csv_guard
from pipeline.text import clean_text

MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
"""Excel's own sheet size: a row or column beyond it was not written by a spreadsheet program."""
MAX_ROW_ELEMENTS = 200_000
"""XML elements inside one ``<row>`` (cells, values, rich-text runs) before the row is refused."""
MAX_DEPTH = 64
RATIO_CHECK_FROM = MIB
"""Members smaller than this are not ratio-checked (a tiny styles part may compress very well)."""
MAX_XML_PART_BYTES = 16 * MIB
"""XML parts openpyxl parses whole (workbook, styles, relationships …): each at most this, uncompressed."""

CONTENT_TYPES = "[Content_Types].xml"
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ROW_TAG, CELL_TAG, DATA_TAG = MAIN_NS + "row", MAIN_NS + "c", MAIN_NS + "sheetData"

_SI = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
_OVERRIDE = re.compile(r"<(?:\w+:)?Override\b[^>]*>")
_ATTR = re.compile(r"(\w+)\s*=\s*\"([^\"]*)\"")


def _mib(size: int) -> str:
    return f"{size / MIB:,.1f} MiB"


def _too_large(what_zh: str, what_en: str) -> FileTooLarge:
    return FileTooLarge(f"文件超出限制：{what_zh} — the workbook exceeds a limit: {what_en}; it was refused before "
                        f"being unpacked (split the list, or save it again from Excel)", field="file")


def _broken(reason_zh: str, reason_en: str) -> InvalidFile:
    return InvalidFile(f"文件结构无效：{reason_zh} — the .xlsx file is broken: {reason_en}", field="file")


def _part_types(archive: zipfile.ZipFile) -> dict[str, str]:
    """part name → content type, from ``[Content_Types].xml`` overrides (how openpyxl finds the parts too)."""
    try:
        info = archive.getinfo(CONTENT_TYPES)
    except KeyError:
        raise _broken("缺少 [Content_Types].xml", "it has no [Content_Types].xml (not a workbook)") from None
    if info.file_size > MAX_XML_PART_BYTES:
        raise _too_large(f"{CONTENT_TYPES} 为 {_mib(info.file_size)}", f"{CONTENT_TYPES} is {_mib(info.file_size)}")
    text = archive.read(info).decode("utf-8", errors="replace")
    types = {}
    for tag in _OVERRIDE.findall(text):
        attrs = dict(_ATTR.findall(tag))
        if "PartName" in attrs and "ContentType" in attrs:
            types[attrs["PartName"].lstrip("/")] = attrs["ContentType"]
    return types


def count_shared_strings(archive: zipfile.ZipFile, name: str, limit: int) -> int:
    """The ``<si>`` items of the shared-string part, streamed (stops counting once past ``limit``)."""
    count = 0
    carry = b""
    with archive.open(name) as part:
        while chunk := part.read(MIB):
            buffer = carry + chunk
            cut = buffer.rfind(b"<")
            done, carry = (buffer, b"") if cut < 0 else (buffer[:cut], buffer[cut:])
            count += len(_SI.findall(done))
            if len(carry) > 4096:  # a "<" inside a long text, not a tag being cut in two
                count += len(_SI.findall(carry))
                carry = b""
            if count > limit:
                return count
    return count + len(_SI.findall(carry))


def check_workbook(stream: IO[bytes], limits: ImportLimits) -> None:
    """Refuse a workbook that would inflate past ``limits`` — from the zip directory, before inflating it."""
    stream.seek(0)
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _broken("不是 zip 格式的 .xlsx 文件", f"it is not a zip archive ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise _too_large(f"含 {len(members):,} 个部件（上限 {limits.max_members:,}）",
                             f"{len(members):,} members (limit {limits.max_members:,})")
        total = sum(info.file_size for info in members)
        if total > limits.max_uncompressed_bytes:
            raise _too_large(f"解压后 {_mib(total)}（上限 {_mib(limits.max_uncompressed_bytes)}）",
                             f"{_mib(total)} uncompressed (limit {_mib(limits.max_uncompressed_bytes)})")
        for info in members:
            if info.file_size >= RATIO_CHECK_FROM and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                ratio = info.file_size / max(info.compress_size, 1)
                raise _too_large(f"部件 {info.filename} 压缩比 {ratio:,.0f}:1（上限 {limits.max_ratio}:1）",
                                 f"member {info.filename} has a compression ratio of {ratio:,.0f}:1 "
                                 f"(limit {limits.max_ratio}:1)")
        types = _part_types(archive)
        for info in members:
            kind = types.get(info.filename)
            parsed_whole = info.filename.endswith((".xml", ".rels", ".vml")) and kind != WORKSHEET_TYPE
            if kind == SHARED_STRINGS_TYPE:
                if info.file_size > limits.max_shared_strings_bytes:
                    raise _too_large(
                        f"共享字符串 {_mib(info.file_size)}（上限 {_mib(limits.max_shared_strings_bytes)}）",
                        f"shared strings of {_mib(info.file_size)} (limit {_mib(limits.max_shared_strings_bytes)})")
                count = count_shared_strings(archive, info.filename, limits.max_shared_strings)
                if count > limits.max_shared_strings:
                    raise _too_large(f"共享字符串超过 {limits.max_shared_strings:,} 个",
                                     f"more than {limits.max_shared_strings:,} shared strings")
            elif parsed_whole and info.file_size > MAX_XML_PART_BYTES:
                raise _too_large(f"部件 {info.filename} 为 {_mib(info.file_size)}",
                                 f"member {info.filename} is {_mib(info.file_size)} (limit {_mib(MAX_XML_PART_BYTES)})")


def _column_letter(index: int) -> str:
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def clean_cells(number: int, cells: Sequence[Any]) -> Sequence[Any]:
    """Text cells through :func:`pipeline.text.clean_text`, and one ``'`` taken off before a formula character."""
    cleaned = list(cells)
    for index, value in enumerate(cleaned):
        if isinstance(value, str):
            if not value.isprintable():  # a control character (refused) or a CR: the rest pass clean_text as they are
                value = clean_text(value, f"第{number}行{_column_letter(index + 1)}列 (row {number}, column "
                                          f"{_column_letter(index + 1)})")
            cleaned[index] = strip_csv_guard(value)
    return cleaned


def xlsx_rows(stream: IO[bytes], limits: ImportLimits) -> Iterator[tuple[int, Sequence[Any]]]:
    """(row number, cell values) of the first sheet's non-empty rows, after :func:`check_workbook`."""
    check_workbook(stream, limits)
    import openpyxl  # type: ignore[import-untyped]  # here: the CLI starts faster for CSV files
    from openpyxl.worksheet._reader import WorkSheetParser  # type: ignore[import-untyped]

    stream.seek(0)
    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except PipelineError:
        raise
    except (ParseError, DefusedXmlException) as exc:
        raise _broken("XML 无效", f"a part of it is not well-formed XML ({exc})") from None
    except Exception as exc:  # any failure to parse a hostile workbook's parts is a broken file
        raise _broken("无法读取工作簿", f"the workbook cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        sheets = workbook.worksheets
        if not sheets or not hasattr(sheets[0], "_get_source"):
            raise _broken("没有工作表", "it has no worksheet")
        sheet = sheets[0]
        parser = WorkSheetParser(None, sheet._shared_strings, data_only=True, epoch=workbook.epoch,
                                 date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats)
        try:
            source = sheet._get_source()
        except Exception as exc:  # a sheet the workbook names but the zip lacks
            raise _broken(f"工作表“{sheet.title}”缺失", f"sheet {sheet.title!r} is missing ({exc})") from None
        with source:
            yield from _sheet_rows(source, parser, sheet.title)
    finally:
        workbook.close()


def _sheet_rows(source: IO[bytes], parser: Any, title: str) -> Iterator[tuple[int, Sequence[Any]]]:
    stack: list[Any] = []
    previous = 0
    row_elements = 0
    events = iterparse(source, events=("start", "end"))
    try:
        for event, element in events:
            if event == "start":
                stack.append(element)
                if len(stack) > MAX_DEPTH:
                    raise _broken(f"工作表“{title}”嵌套过深", f"sheet {title!r} nests XML deeper than {MAX_DEPTH}")
                if len(stack) > 3 and stack[2].tag == ROW_TAG:
                    row_elements += 1
                    if row_elements > MAX_ROW_ELEMENTS:
                        raise _broken(f"工作表“{title}”第{previous + 1}行单元格过多",
                                      f"sheet {title!r}: row {previous + 1} has too many cells")
                continue
            stack.pop()
            if element.tag == ROW_TAG and len(stack) == 2 and stack[1].tag == DATA_TAG:
                previous = _row_number(element, previous, title)
                values = _row_values(element, previous, parser, title)
                row_elements = 0
                if values:
                    yield previous, values
            if 1 <= len(stack) <= 2:
                del stack[-1][:]  # a finished element (a row, or a part outside the data) is dropped
            if element.tag == DATA_TAG:
                return  # nothing after the data is needed
    except (ParseError, DefusedXmlException) as exc:
        raise _broken(f"工作表“{title}”的 XML 无效", f"sheet {title!r} is not well-formed XML ({exc})") from None


def _row_number(element: Any, previous: int, title: str) -> int:
    raw = element.get("r")
    try:
        number = int(raw) if raw is not None else previous + 1
    except ValueError:
        number = -1
    if not previous < number <= MAX_ROWS:
        raise _broken(f"工作表“{title}”行号“{raw}”无效", f"sheet {title!r}: row number {raw!r} after row {previous} "
                                                      f"is not a row number between {previous + 1} and {MAX_ROWS}")
    return number


def _row_values(element: Any, number: int, parser: Any, title: str) -> tuple[Any, ...]:
    parser.row_counter = number
    parser.col_counter = 0
    values: dict[int, Any] = {}
    for cell in element:
        if cell.tag != CELL_TAG:
            continue
        coordinate = cell.get("r") or f"{_column_letter(parser.col_counter + 1)}{number}"
        try:
            parsed = parser.parse_cell(cell)
            if parsed["row"] != number or not 1 <= parsed["column"] <= MAX_COLUMNS:
                raise ValueError(f"{coordinate} lies outside row {number} or beyond column XFD")
        except Exception as exc:  # openpyxl's cell parser on hostile input raises anything
            raise _broken(f"工作表“{title}”单元格{coordinate}无效",
                          f"sheet {title!r}, cell {coordinate}: {type(exc).__name__}: {exc}") from None
        if parsed["value"] is not None:
            values[parsed["column"]] = parsed["value"]
    if not values:
        return ()
    row: list[Any] = [None] * max(values)
    for column, value in values.items():
        row[column - 1] = value
    return tuple(row)
