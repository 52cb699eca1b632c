"""Auditor search across a jurisdiction, its CSV and Excel exports, and the log of auditors' reads."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from helpers import CITY, Factory, fire, make_uscc, walk
from openpyxl import load_workbook

from api.main import create_app
from pipeline.db import unit_of_work
from pipeline.principals.service import add_principal

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = ["统一社会信用代码", "序号", "类型", "操作", "原状态", "新状态", "生效日期", "记录时间", "操作人", "原因代码",
           "原因", "证据", "规则版本", "规则哈希", "请求编号", "前一哈希", "哈希", "哈希规则"]


def _setup(factory: Factory) -> tuple[dict[str, str], str, str]:
    ours, theirs = make_uscc("410106", 1), make_uscc("411200", 2)
    walk(factory, ours, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")])
    fire(factory, ours, "recognize_provincial", "2023-02-01", actor=CITY)
    walk(factory, theirs, [("enroll", "2022-09-01")])
    tokens = {}
    with unit_of_work(factory) as session:
        for key, role, level in (("auditor", "auditor", None), ("official", "official", "city"),
                                 ("integrator", "integrator", None)):
            tokens[key] = add_principal(session, name=key, role=role, level=level, region_code="410100",
                                        created_by="test").token
        tokens["admin"] = add_principal(session, name="admin", role="admin", region_code=None,
                                        created_by="test").token
    return tokens, ours, theirs


def test_search_filters_orders_and_pages_within_the_jurisdiction(database_url: str, session_factory: Factory) -> None:
    tokens, ours, _ = _setup(session_factory)
    with TestClient(create_app(database_url)) as client:
        auth = {"Authorization": f"Bearer {tokens['auditor']}"}
        everything = client.get("/api/v1/audit/events", headers=auth).json()["items"]
        assert [(e["uscc"], e["seq"]) for e in everything] == [(ours, 1), (ours, 2), (ours, 3)]
        newest = client.get("/api/v1/audit/events", params={"order": "desc", "limit": 2}, headers=auth).json()
        assert [e["seq"] for e in newest["items"]] == [3, 2]
        rest = client.get("/api/v1/audit/events", params={"order": "desc", "limit": 2, "cursor": newest["next_cursor"]},
                          headers=auth).json()
        assert [e["seq"] for e in rest["items"]] == [1]
        assert rest["next_cursor"] is None
        by_actor = client.get("/api/v1/audit/events", params={"actor": CITY.id}, headers=auth).json()["items"]
        assert [e["trigger"] for e in by_actor] == ["recognize_provincial"]
        by_trigger = client.get("/api/v1/audit/events", params={"trigger": "enroll", "effective_to": "2022-12-31"},
                                headers=auth).json()["items"]
        assert [e["seq"] for e in by_trigger] == [1]
        dated = client.get("/api/v1/audit/events", params={"effective_from": "2023-01-01"}, headers=auth).json()
        assert [e["seq"] for e in dated["items"]] == [3]
        recorded = client.get("/api/v1/audit/events", params={"recorded_to": "2000-01-01T00:00:00Z"}, headers=auth)
        assert recorded.json()["items"] == []
        admin = client.get("/api/v1/audit/events", params={"region": "411200"},
                           headers={"Authorization": f"Bearer {tokens['admin']}"}).json()["items"]
        assert len(admin) == 1
        refused = client.get("/api/v1/audit/events", headers={"Authorization": f"Bearer {tokens['integrator']}"})
        assert refused.status_code == 403


def test_csv_and_xlsx_exports_carry_chinese_headers_and_every_row(database_url: str,
                                                                  session_factory: Factory) -> None:
    tokens, ours, _ = _setup(session_factory)
    with TestClient(create_app(database_url)) as client:
        auth = {"Authorization": f"Bearer {tokens['official']}"}
        response = client.get("/api/v1/audit/events", params={"uscc": ours}, headers={**auth, "Accept": "text/csv"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == HEADERS
        assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
            (ours, "1", "enroll"), (ours, "2", "recognize_innovative"), (ours, "3", "recognize_provincial")]
        json_page = client.get("/api/v1/audit/events", params={"uscc": ours}, headers=auth).json()["items"]
        assert [r[-2] for r in rows[1:]] == [e["hash"] for e in json_page]
        assert [r[-1] for r in rows[1:]] == ["jcs-1"] * 3

        xlsx = client.get("/api/v1/audit/events", headers={**auth, "Accept": XLSX})
        assert xlsx.status_code == 200
        assert xlsx.headers["content-type"] == XLSX
        sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
        values = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert values[0] == HEADERS
        assert [(v[0], v[1], v[3]) for v in values[1:]] == [
            (ours, 1, "enroll"), (ours, 2, "recognize_innovative"), (ours, 3, "recognize_provincial")]
        assert values[3][11] == ('{"batch":"2022-豫-1","eligibility_warning":{"missing":"no annual data","passed":null,'
                                 '"rulebook_id":"miit-2022","tier":"provincial","year":null},"tier":"provincial",'
                                 '"valid_until":"2026-01-31"}')  # issue 6: no indicators → an open warning


def test_every_auditor_read_is_logged_and_others_are_not(database_url: str, session_factory: Factory) -> None:
    tokens, ours, _ = _setup(session_factory)
    with TestClient(create_app(database_url)) as client:
        auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
        official = {"Authorization": f"Bearer {tokens['official']}"}
        assert client.get(f"/api/v1/enterprises/{ours}", headers=auditor).status_code == 200
        assert client.get(f"/api/v1/enterprises/{ours}/history", headers=auditor).status_code == 200
        client.get("/api/v1/audit/events", params={"trigger": "enroll"}, headers={**auditor, "Accept": "text/csv"})
        client.get(f"/api/v1/enterprises/{ours}", headers=official)
        reads = client.get("/api/v1/audit/reads", headers={"Authorization": f"Bearer {tokens['admin']}"}).json()
        logged = [(r["route"], r["uscc"], r["query"]) for r in reads["items"]]
        assert logged == [("/api/v1/audit/events", None, "trigger=enroll"),
                          ("/api/v1/enterprises/{uscc}/history", ours, None),
                          ("/api/v1/enterprises/{uscc}", ours, None)]
        own = client.get("/api/v1/audit/reads", headers=auditor).json()["items"]
        # The auditor sees their own reads, this very one included (logged in the same transaction).
        assert [r["route"] for r in own][:2] == ["/api/v1/audit/reads", "/api/v1/audit/events"]
        assert len(own) == 4
        assert client.get("/api/v1/audit/reads", headers=official).status_code == 403
