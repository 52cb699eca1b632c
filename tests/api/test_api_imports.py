"""POST /api/v1/imports (multipart; JSON or CSV report) and the .xlsx/CSV exports, parsed back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
from api_support import Caller, assert_problem, enroll, event_count, fire, firm_count, make_uscc
from fastapi.testclient import TestClient
from imports_support import bad_check, write_csv, write_xlsx
from sqlalchemy.orm import Session, sessionmaker

A, B = make_uscc("410106", 31), make_uscc("410106", 32)
SANMENXIA_FIRM = make_uscc("411200", 33)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _upload(client: TestClient, caller: Caller, path: Path, *, accept: str = "application/json",
            **form: str) -> object:
    with path.open("rb") as stream:
        return client.post("/api/v1/imports", headers={**caller.headers, "Accept": accept},
                           files={"file": (path.name, stream)}, data=form)


def test_a_dry_run_returns_the_report_and_writes_nothing(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "培育库.xlsx", [(1, A, "甲公司", "", "2025-01-10", ""),
                                                 (2, bad_check(B), "乙公司", "", "2025-01-10", "")])
    response = _upload(client, city, path, action="enroll")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    assert body["applied"] is False
    assert [(i["row"], i["status"]) for i in body["items"]] == [(3, "ok"), (4, "problem")]
    assert "check character 18" in body["items"][1]["problem"]
    assert firm_count(api_sessions) == 0


def test_the_report_as_csv_opens_beside_the_original(client: TestClient, city: Caller, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "培育库.csv", [(1, A, "甲公司", "", "2025-01-10", "")])
    response = _upload(client, city, path, accept="text/csv", action="enroll")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [{"行号": "3", "统一社会信用代码": A, "企业名称": "甲公司", "结果": "ok",
                     "处理": "enroll → reserve (2025-01-10)", "问题": ""}]


def test_apply_with_a_bad_row_is_a_422_with_the_report_and_nothing_written(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "培育库.csv", [(1, A, "甲公司", "", "2025-01-10", ""),
                                               (2, A, "甲公司", "", "2025-01-10", "")])
    body = assert_problem(_upload(client, city, path, action="enroll", dry_run="false"), 422, "import-rejected")
    assert body["report"]["problems"] == 1
    assert "duplicate of row 3" in body["report"]["items"][1]["problem"]
    assert firm_count(api_sessions) == 0


def test_apply_then_the_same_upload_again_is_a_no_op(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    enroll(client, city, A, on="2025-01-10")
    fire(client, city, A, "recognize_innovative", "2025-02-01")
    path = write_xlsx(tmp_path / "省级.xlsx", [(1, A, "甲公司", "", "2025-06-30", "豫工信企业〔2025〕88号")])
    first = _upload(client, city, path, action="recognize_provincial", dry_run="false")
    assert first.status_code == 200
    assert first.json()["applied"] is True
    assert event_count(api_sessions, A) == 3
    again = _upload(client, city, path, action="recognize_provincial", dry_run="false")
    assert again.status_code == 200
    assert again.json()["already_imported_by"] == first.json()["run_id"]
    assert [i["status"] for i in again.json()["items"]] == ["unchanged"]
    assert event_count(api_sessions, A) == 3


def test_an_unreadable_upload_is_a_422(client: TestClient, city: Caller, tmp_path: Path) -> None:
    path = tmp_path / "名单.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    assert_problem(_upload(client, city, path, action="enroll"), 422, "invalid-file")


def _xlsx_rows(content: bytes) -> list[tuple[object, ...]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def test_exports_are_scoped_to_the_callers_jurisdiction(
        client: TestClient, city: Caller, sanmenxia: Caller, province: Caller) -> None:
    enroll(client, city, A, on="2025-01-10")
    fire(client, city, A, "recognize_innovative", "2025-02-01")
    enroll(client, sanmenxia, SANMENXIA_FIRM, on="2025-01-10")

    response = client.get("/api/v1/exports/enterprises?format=xlsx", headers=city.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert "attachment" in response.headers["content-disposition"]
    header, *rows = _xlsx_rows(response.content)
    assert header[:6] == ("序号", "统一社会信用代码", "企业名称", "区划代码", "地区名称", "状态")
    assert [(row[1], row[6]) for row in rows] == [(A, "innovative")]

    response = client.get("/api/v1/exports/enterprises?format=csv", headers=province.headers)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())  # Excel reads the BOM as UTF-8
    listed = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(row["统一社会信用代码"] for row in listed) == sorted([A, SANMENXIA_FIRM])


def test_the_roster_lists_titles_valid_on_a_date_and_can_be_imported_back(
        client: TestClient, city: Caller, admin: Caller, tmp_path: Path) -> None:
    enroll(client, city, A, on="2025-01-10")
    fire(client, city, A, "recognize_innovative", "2025-02-01")
    enroll(client, city, B, on="2025-01-10")

    before = client.get("/api/v1/exports/roster?format=csv&as_of=2025-01-31", headers=city.headers)
    assert list(csv.DictReader(io.StringIO(before.content.decode("utf-8-sig")))) == []
    response = client.get("/api/v1/exports/roster?format=xlsx&tier=innovative&as_of=2025-03-01",
                          headers=city.headers)
    assert response.status_code == 200, response.text
    _header, *rows = _xlsx_rows(response.content)
    assert [(row[1], row[6], str(row[7])[:10]) for row in rows] == [(A, "innovative", "2025-02-01")]

    # The roster's headers are the importer's: imported back, every row is understood (and already recorded).
    path = tmp_path / "roster.xlsx"
    path.write_bytes(response.content)
    response = _upload(client, admin, path, action="backfill")
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(i["uscc"], i["status"]) for i in report["items"]] == [(A, "unchanged")]


def test_an_export_outside_the_jurisdiction_is_refused(client: TestClient, sanmenxia: Caller) -> None:
    response = client.get("/api/v1/exports/enterprises?region=410106", headers=sanmenxia.headers)
    assert_problem(response, 422, "validation-error")
