"""Hostile and broken workbooks: refused before inflating (file-too-large) or as invalid-file, never a 500.

Every bomb is built here, small: a few MiB of one repeated byte that deflates to a few KiB.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from api_support import Caller, assert_problem, firm_count, make_uscc
from fastapi.testclient import TestClient
from imports_support import write_xlsx
from sqlalchemy.orm import Session, sessionmaker

from pipeline.cli.main import main

FIRM = make_uscc("410106", 41)
SHEET = "xl/worksheets/sheet1.xml"
MAIN = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _workbook(tmp_path: Path) -> bytes:
    return write_xlsx(tmp_path / "base.xlsx", [(1, FIRM, "甲公司", "410106", "2025-01-10", "")]).read_bytes()


def _rewrite(data: bytes, parts: dict[str, bytes]) -> bytes:
    """The workbook with ``parts`` replaced or added (deflated)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in parts:
                target.writestr(info.filename, source.read(info))
        for name, content in parts.items():
            target.writestr(name, content)
    return out.getvalue()


def _sheet(rows: bytes) -> bytes:
    return b"<worksheet " + MAIN + b"><sheetData>" + rows + b"</sheetData></worksheet>"


def _with_shared_strings(data: bytes, strings: bytes, sheet_rows: bytes) -> bytes:
    """The workbook with a shared-string part declared in [Content_Types].xml and the workbook's relationships."""
    source = zipfile.ZipFile(io.BytesIO(data))
    types = source.read("[Content_Types].xml").replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                     b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    rels = source.read("xl/_rels/workbook.xml.rels").replace(
        b"</Relationships>", b'<Relationship Id="rIdSST" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                             b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    return _rewrite(data, {"[Content_Types].xml": types, "xl/_rels/workbook.xml.rels": rels,
                           "xl/sharedStrings.xml": b"<sst " + MAIN + b">" + strings + b"</sst>",
                           SHEET: _sheet(sheet_rows)})


HEADER_ROW = (b'<row r="1"><c r="A1" t="inlineStr"><is><t>\xe7\xbb\x9f\xe4\xb8\x80\xe7\xa4\xbe\xe4\xbc\x9a\xe4\xbf'
              b'\xa1\xe7\x94\xa8\xe4\xbb\xa3\xe7\xa0\x81</t></is></c></row>')  # 统一社会信用代码


def _post(client: TestClient, caller: Caller, content: bytes, *, url: str = "/api/v1/imports",
          **form: str) -> object:
    return client.post(url, headers=caller.headers, files={"file": ("名单.xlsx", content)}, data=form)


def test_a_zip_bomb_is_refused_before_it_is_inflated(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    data = _workbook(tmp_path)
    sheet = zipfile.ZipFile(io.BytesIO(data)).read(SHEET)
    bomb = _rewrite(data, {SHEET: sheet.replace(b"</sheetData>", b"</sheetData>" + b" " * (8 << 20))})
    assert len(bomb) < 64 * 1024
    body = assert_problem(_post(client, city, bomb, action="enroll", dry_run="false"), 422, "file-too-large")
    assert "compression ratio" in body["detail"]
    assert firm_count(api_sessions) == 0


def test_the_limits_are_configurable_uncompressed_size_and_member_count(
        client: TestClient, city: Caller, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _workbook(tmp_path)
    monkeypatch.setenv("PIPELINE_XLSX_MAX_UNCOMPRESSED_BYTES", "2000")
    assert "uncompressed" in assert_problem(_post(client, city, data, action="enroll"), 422, "file-too-large")["detail"]
    monkeypatch.delenv("PIPELINE_XLSX_MAX_UNCOMPRESSED_BYTES")
    monkeypatch.setenv("PIPELINE_XLSX_MAX_MEMBERS", "5")
    assert "members" in assert_problem(_post(client, city, data, action="enroll"), 422, "file-too-large")["detail"]


def test_too_many_shared_strings_are_refused_before_openpyxl_loads_them(
        client: TestClient, city: Caller, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_XLSX_MAX_SHARED_STRINGS", "1000")
    data = _with_shared_strings(_workbook(tmp_path), b"<si><t>x</t></si>" * 1001, HEADER_ROW)
    body = assert_problem(_post(client, city, data, action="enroll"), 422, "file-too-large")
    assert "shared strings" in body["detail"]


@pytest.mark.parametrize(("rows", "named"), [
    (HEADER_ROW + b'<row r="2"><c r="A2"><v>12', "not well-formed"),              # the XML breaks off
    (HEADER_ROW + b'<row r="2"><c r="B2"><v>not-a-number</v></c></row>', "sheet 'Sheet', cell B2"),
    (HEADER_ROW + b'<row r="2"><c r="C2" t="d"><v>2025-13-45T99</v></c></row>', "sheet 'Sheet', cell C2"),
    (HEADER_ROW + b'<row r="2"><c r="D2" t="s"><v>7</v></c></row>', "sheet 'Sheet', cell D2"),  # no such string
    (HEADER_ROW + b'<row r="9999999999"></row>', "sheet 'Sheet': row number"),    # beyond Excel's last row
])
def test_a_broken_workbook_is_invalid_file_naming_the_sheet_and_cell(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], tmp_path: Path,
        rows: bytes, named: str) -> None:
    data = _rewrite(_workbook(tmp_path), {SHEET: _sheet(rows).replace(b"</sheetData></worksheet>", b"")
                                          if rows.endswith(b"12") else _sheet(rows)})
    body = assert_problem(_post(client, city, data, action="enroll", dry_run="false"), 422, "invalid-file")
    assert named in body["detail"]
    assert firm_count(api_sessions) == 0


def test_a_workbook_without_a_sheet_is_invalid_file(client: TestClient, city: Caller, tmp_path: Path) -> None:
    data = _workbook(tmp_path)
    workbook = zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml")
    start, end = workbook.index(b"<sheets>"), workbook.index(b"</sheets>") + len(b"</sheets>")
    empty = _rewrite(data, {"xl/workbook.xml": workbook[:start] + b"<sheets/>" + workbook[end:]})
    assert_problem(_post(client, city, empty, action="enroll"), 422, "invalid-file")


def test_a_well_formed_cell_with_a_bad_value_stays_a_problem_of_its_row(
        client: TestClient, city: Caller, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "名单.xlsx", [(1, FIRM, "甲公司", "410106", "2025-02-30", "")])
    response = _post(client, city, path.read_bytes(), action="enroll")
    assert response.status_code == 200, response.text
    assert [item["status"] for item in response.json()["items"]] == ["problem"]


def test_the_indicator_import_refuses_a_bomb_too(client: TestClient, city: Caller, tmp_path: Path) -> None:
    data = _workbook(tmp_path)
    bomb = _rewrite(data, {SHEET: _sheet(HEADER_ROW) + b" " * (8 << 20)})
    assert_problem(_post(client, city, bomb, url="/api/v1/indicators/imports"), 422, "file-too-large")


def test_the_cli_refuses_a_bomb_in_one_line_and_exits_non_zero(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _workbook(tmp_path)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(_rewrite(data, {SHEET: _sheet(HEADER_ROW) + b" " * (8 << 20)}))
    assert main(["--database-url", database_url, "import", str(path), "--action", "enroll"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pipeline: error: 文件超出限制")
    assert "\n" not in err
