"""Hostile bytes get a 4xx problem and nothing is written: NUL and other control characters (the same words at
every door), ids beyond 64 bits, deep JSON, big bodies, long strings; CRLF is stored and hashed as LF."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from api_support import BASE, Caller, assert_problem, enroll, event_count, firm_count, make_uscc
from fastapi.testclient import TestClient
from imports_support import write_csv
from sqlalchemy.orm import Session, sessionmaker

from pipeline.text import control_message

FIRM = make_uscc("410106", 51)
CONTROL_WORDS = "contains the control character U+0000; only tab, line feed and carriage return are allowed"


@pytest.mark.parametrize("route", ["/api/v1/audit/events", "/api/v1/audit/reads"])
def test_a_nul_byte_in_a_query_parameter_is_a_422(client: TestClient, auditor: Caller, route: str) -> None:
    body = assert_problem(client.get(f"{route}?actor=%00", headers=auditor.headers), 422, "validation-error")
    assert body["detail"] == control_message("\x00", "actor")


@pytest.mark.parametrize("route", [
    "/api/v1/feed?after=" + base64.urlsafe_b64encode(json.dumps({"t": 2**64, "i": 1}).encode()).decode(),
    "/api/v1/feed?after=" + base64.urlsafe_b64encode(json.dumps({"t": 1, "i": 2**64}).encode()).decode(),
    f"/api/v1/audit/anchors/{2**64}/verify",
])
def test_ids_and_cursors_beyond_64_bits_are_a_422(client: TestClient, admin: Caller, route: str) -> None:
    assert_problem(client.get(route, headers=admin.headers), 422, "validation-error")


def test_json_nested_300_deep_is_a_422_and_writes_nothing(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    deep = "[" * 300 + "]" * 300
    raw = (f'{{"uscc": "{FIRM}", "name": "甲公司", "effective_date": "2025-01-10", "evidence": {{"x": {deep}}}}}')
    response = client.post(BASE, content=raw.encode(), headers={**city.headers, "Content-Type": "application/json"})
    assert_problem(response, 422, "validation-error")
    assert firm_count(api_sessions) == 0


def test_a_body_over_the_limit_is_a_413_and_writes_nothing(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    payload = {"uscc": FIRM, "name": "甲公司", "effective_date": "2025-01-10",
               "evidence": {f"k{n}": "x" * 1000 for n in range(1100)}}
    assert_problem(client.post(BASE, json=payload, headers=city.headers), 413, "payload-too-large")
    assert firm_count(api_sessions) == 0


def test_a_nul_in_a_json_string_is_refused_with_the_same_words(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    payload = {"uscc": FIRM, "name": "甲\u0000公司", "effective_date": "2025-01-10"}
    body = assert_problem(client.post(BASE, json=payload, headers=city.headers), 422, "validation-error")
    assert body["detail"] == control_message("\x00", "name")
    assert CONTROL_WORDS in body["detail"]
    assert firm_count(api_sessions) == 0


def test_an_overlong_evidence_string_is_a_422_naming_the_field(client: TestClient, city: Caller) -> None:
    enroll(client, city, FIRM)
    response = client.post(f"{BASE}/{FIRM}/transitions", headers=city.headers, json={
        "trigger": "recognize_innovative", "effective_date": "2025-06-30",
        "evidence": {"document_no": "豫工信〔2025〕1号", "note": "长" * 10_001}})
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["field"] == "evidence.note"


def test_crlf_and_lone_cr_are_stored_and_hashed_as_lf(
        client: TestClient, city: Caller, auditor: Caller) -> None:
    enroll(client, city, FIRM)
    response = client.post(f"{BASE}/{FIRM}/transitions", headers=city.headers, json={
        "trigger": "recognize_innovative", "effective_date": "2025-06-30",
        "evidence": {"document_no": "豫工信〔2025〕1号", "note": "第一行\r\n第二行\r第三行"}})
    assert response.status_code == 200, response.text
    history = client.get(f"{BASE}/{FIRM}/history", headers=auditor.headers).json()
    assert history["items"][1]["evidence"]["note"] == "第一行\n第二行\n第三行"
    verdict = client.get("/api/v1/audit/verify", headers=auditor.headers).json()
    assert verdict["ok"], verdict


def test_a_nul_in_a_csv_cell_is_refused_with_the_same_words_and_writes_nothing(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "名单.csv", [(1, FIRM, "甲\x00公司", "410106", "2025-01-10", "")], encoding="utf-8")
    with path.open("rb") as stream:
        response = client.post("/api/v1/imports", headers=city.headers, files={"file": (path.name, stream)},
                               data={"action": "enroll", "dry_run": "false"})
    body = assert_problem(response, 422, "validation-error")
    assert CONTROL_WORDS in body["detail"]
    assert "row 3, column C" in body["detail"]
    assert firm_count(api_sessions) == 0


def test_a_control_character_in_a_console_form_is_refused_alike(client: TestClient) -> None:
    response = client.post("/console/login", data={"token": "abc\x01", "csrf_token": "x"})
    body = assert_problem(response, 422, "validation-error")
    assert "contains the control character U+0001" in body["detail"]


def test_a_form_field_with_a_nul_on_an_import_is_refused(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "名单.csv", [(1, FIRM, "甲公司", "410106", "2025-01-10", "")], encoding="utf-8")
    with path.open("rb") as stream:
        response = client.post("/api/v1/imports", headers=city.headers, files={"file": (path.name, stream)},
                               data={"action": "enroll", "dry_run": "false", "batch": "2025\x00-1"})
    assert_problem(response, 422, "validation-error")
    assert firm_count(api_sessions) == 0
    assert event_count(api_sessions, FIRM) == 0
