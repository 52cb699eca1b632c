"""POST /api/v1/indicators/imports: a dry run by default; applied all or nothing."""

from __future__ import annotations

import io

import httpx
from api_support import Caller, assert_problem, enroll, event_count, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

URL = "/api/v1/indicators/imports"


def sheet(*rows: str) -> bytes:
    return ("\ufeff统一社会信用代码,营业收入（万元）,资产负债率\n" + "".join(f"{row}\n" for row in rows)).encode()


def upload(client: TestClient, caller: Caller, content: bytes, **form: str) -> httpx.Response:
    return client.post(URL, files={"file": ("指标.csv", io.BytesIO(content))}, data={"year": "2025", **form},
                       headers=caller.headers)


def test_dry_run_then_apply(client: TestClient, district: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 91)
    enroll(client, district, uscc)
    content = sheet(f"{uscc},4800,0.6")
    dry = upload(client, district, content)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert (body["dry_run"], body["applied"], body["ok"], body["events"]) == (True, False, 1, 0)
    assert body["columns"] == {"统一社会信用代码": "uscc", "营业收入（万元）": "revenue", "资产负债率": "debt_ratio"}
    assert body["items"][0]["changed"] == ["debt_ratio", "revenue"]
    assert event_count(api_sessions, uscc) == 1

    applied = upload(client, district, content, dry_run="false").json()
    assert (applied["applied"], applied["events"]) == (True, 1)
    got = client.get(f"/api/v1/enterprises/{uscc}/indicators/2025", headers=district.headers).json()
    assert got["indicators"] == {"revenue": 48_000_000.0, "debt_ratio": 0.6}


def test_a_problem_row_rejects_the_whole_file(client: TestClient, district: Caller, auditor: Caller,
                                              api_sessions: sessionmaker[Session]) -> None:
    good = make_uscc("410106", 92)
    enroll(client, district, good)
    rejected = upload(client, district, sheet(f"{good},4800,0.6", f"{good},1,-0.2"), dry_run="false")
    body = assert_problem(rejected, 422, "import-rejected")
    assert [item["status"] for item in body["report"]["items"]] == ["ok", "problem"]
    assert "more than once" in body["report"]["items"][1]["problem"]
    assert event_count(api_sessions, good) == 1
    assert_problem(upload(client, auditor, sheet(f"{good},1,0.1")), 403, "forbidden")
    assert_problem(upload(client, district, b"no,header,here\n1,2,3\n"), 422,
                   "validation-error")
