"""The console's import page: a dry run writes nothing and reports every row; apply writes all or nothing."""

from __future__ import annotations

import re

from api_support import SHANGJIE, Caller, event_count, make_uscc
from console_support import csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

GOOD = make_uscc(SHANGJIE, 31)
BAD = GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")


def _upload(client: TestClient, csrf: str, rows: str) -> str:
    response = client.post("/console/imports", data={"csrf_token": csrf, "action": "enroll"}, files={
        "file": ("list.csv", f"统一社会信用代码,企业名称,纳入日期\n{rows}".encode(), "text/csv")})
    return response.text


def test_dry_run_then_apply(client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    csrf = sign_in(client, city)
    page = _upload(client, csrf, f"{GOOD},上街某企业,2025-01-10\n")
    assert "可导入" in page
    assert event_count(api_sessions, GOOD) == 0  # the dry run wrote nothing
    form = re.search(r'<form method="post" action="/console/imports" class="apply">(.*?)</form>', page, re.S)
    assert form
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1)))
    applied = client.post("/console/imports", data=fields)
    assert 'data-applied="true"' in applied.text
    assert event_count(api_sessions, GOOD) == 1


def test_a_problem_row_blocks_the_apply(client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    csrf = sign_in(client, city)
    page = _upload(client, csrf, f"{GOOD},上街某企业,2025-01-10\n{BAD},坏代码企业,2025-01-10\n")
    assert "有问题" in page
    assert 'class="apply"' not in page  # no apply offered while a row has a problem
    assert event_count(api_sessions, GOOD) == 0


def test_an_altered_file_is_not_applied(client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    csrf = sign_in(client, city)
    response = client.post("/console/imports", data={
        "csrf_token": csrf_of(client.get("/console/imports").text) or csrf, "action": "enroll", "apply": "yes",
        "payload": "c29tZXRoaW5n", "file_name": "list.csv", "file_sha256": "0" * 64})
    assert response.status_code == 422
    assert "文件与预演时不一致" in response.text
