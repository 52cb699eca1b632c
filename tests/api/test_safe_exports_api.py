"""Exports are safe to open in Excel: formula-like text is neutralised in CSV (a leading ') and written as string
cells in .xlsx; the importer takes the ' off again, so an export re-imports unchanged; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
from api_support import BASE, Caller, enroll, fire, make_uscc
from fastapi.testclient import TestClient

from pipeline.imports import ImportFile

FIRM = make_uscc("410106", 61)
NAME = "=HYPERLINK(\"http://x\",\"甲\")"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv(response: object) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))  # type: ignore[attr-defined]


def test_csv_exports_prefix_formula_like_text_and_leave_numbers_alone(
        client: TestClient, city: Caller, auditor: Caller) -> None:
    enroll(client, city, FIRM, name=NAME)
    fire(client, city, FIRM, "remove", "2025-02-01", reason_code="other", reason="-1+1 @并入他处")
    firms = _csv(client.get("/api/v1/exports/enterprises?format=csv", headers=city.headers))
    assert firms[1][2] == "'" + NAME
    assert firms[1][0] == "1"  # 序号, a number, untouched
    events = _csv(client.get("/api/v1/audit/events", headers={**auditor.headers, "Accept": "text/csv"}))
    reasons = [row[events[0].index("原因")] for row in events[1:]]
    assert "'-1+1 @并入他处" in reasons


def test_xlsx_exports_write_formula_like_text_as_plain_strings(client: TestClient, city: Caller,
                                                                auditor: Caller) -> None:
    enroll(client, city, FIRM, name=NAME)
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/api/v1/exports/enterprises?format=xlsx",
                                                         headers=city.headers).content)).worksheets[0]
    cell = sheet.cell(row=2, column=3)
    assert (cell.value, cell.data_type) == (NAME, "s")
    assert sheet.cell(row=2, column=1).value == 1
    response = client.get("/api/v1/audit/events", headers={**auditor.headers, "Accept": XLSX})
    events = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert all(c.data_type != "f" for row in events.iter_rows() for c in row)


def test_an_exported_roster_re_imports_unchanged(client: TestClient, city: Caller, tmp_path: Path) -> None:
    enroll(client, city, FIRM, name="+甲公司")
    fire(client, city, FIRM, "recognize_innovative", "2025-06-30")
    exported = client.get("/api/v1/exports/roster?format=csv", headers=city.headers)
    assert _csv(exported)[1][2] == "'+甲公司"
    path = tmp_path / "roster.csv"
    path.write_bytes(exported.content)
    with path.open("rb") as stream:
        assert [row.name for row in ImportFile(stream, path.name).rows()] == ["+甲公司"]
        stream.seek(0)
        report = client.post("/api/v1/imports", headers=city.headers, files={"file": (path.name, stream)},
                             data={"action": "backfill"}).json()
    assert [item["status"] for item in report["items"]] == ["unchanged"]


def test_the_import_report_csv_neutralises_formula_like_names(
        client: TestClient, city: Caller, tmp_path: Path) -> None:
    path = tmp_path / "名单.csv"
    path.write_text(f"统一社会信用代码,企业名称,认定日期\n{FIRM},@SUM(1),2025-01-10\n", encoding="utf-8")
    with path.open("rb") as stream:
        response = client.post("/api/v1/imports", headers={**city.headers, "Accept": "text/csv"},
                               files={"file": (path.name, stream)}, data={"action": "enroll"})
    assert response.status_code == 200, response.text
    assert _csv(response)[1][2] == "'@SUM(1)"


def test_history_is_unchanged_by_neutralising(client: TestClient, city: Caller, auditor: Caller) -> None:
    enroll(client, city, FIRM, name=NAME)
    items = client.get(f"{BASE}/{FIRM}/history", headers=auditor.headers).json()["items"]
    assert items[0]["evidence"]["name"] == NAME
