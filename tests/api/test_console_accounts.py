"""Console accounts and sessions: `pipeline user add`, sign-in by name and password (Argon2id), the lock after
five failures, events naming the principal as actor and the person as evidence.user, the idle timeout that
keeps a typed form, and a form from a stale tab that explains itself."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from api_support import SHANGJIE, Caller
from console_support import csrf_of
from fastapi.testclient import TestClient
from helpers import enroll, events, make_uscc
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pipeline.cli.main import main
from pipeline.models import ConsoleSessionRecord, ConsoleUser

FIRM = make_uscc(SHANGJIE, 31)
PASSWORD = "上街区-correct-horse-7"


def _sign_in(client: TestClient, name: str, password: str) -> TestClient:
    page = client.get("/console/login")
    client.post("/console/login", data={"csrf_token": csrf_of(page.text), "username": name, "password": password,
                                        "next": "/console"})
    return client


def test_user_add_sign_in_lock_and_events_name_the_person(
    client: TestClient, district: Caller, api_sessions: sessionmaker[Session], database_url: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["--database-url", database_url, "user", "add", "--name", "王敏", "--principal", district.id]) == 0
    assert "王敏" in capsys.readouterr().out
    with api_sessions() as session:
        stored = session.scalars(select(ConsoleUser)).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
    enroll(api_sessions, FIRM, "2025-01-10", name="上街精密制造有限公司")

    login = client.get("/console/login").text
    assert 'name="token"' in login  # the token field stays
    for _ in range(3):
        _sign_in(client, "王敏", "wrong-password-1")
    assert "用户名或密码不正确" in client.post("/console/login", data={
        "csrf_token": csrf_of(client.get("/console/login").text), "username": "王敏", "password": "nope-nope-2"}).text
    _sign_in(client, "王敏", "wrong-password-5")
    locked = client.post("/console/login", data={
        "csrf_token": csrf_of(client.get("/console/login").text), "username": "王敏", "password": PASSWORD})
    assert locked.status_code == 401
    assert "已锁定" in locked.text  # the fifth failure locked it: the right password waits 15 minutes
    with api_sessions.begin() as session:
        session.execute(update(ConsoleUser).values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))

    page = _sign_in(client, "王敏", PASSWORD).get("/console").text
    assert "王敏（test district）" in page
    csrf = csrf_of(page)
    done = client.post(f"/console/enterprises/{FIRM}/edit", data={
        "csrf_token": csrf, "name": "上街精密制造股份有限公司", "region_code": SHANGJIE}, follow_redirects=False)
    assert done.status_code == 303
    last = events(api_sessions, FIRM)[-1]
    assert last.actor == district.id
    assert last.evidence["user"] == "王敏"
    assert "经办人 王敏" in client.get(f"/console/enterprises/{FIRM}").text


def test_idle_timeout_keeps_the_typed_form_and_a_stale_tab_explains_itself(
    client: TestClient, district: Caller, api_sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIPELINE_SESSION_IDLE_MINUTES", "10")
    enroll(api_sessions, FIRM, "2025-01-10", name="上街精密制造有限公司")
    login = client.get("/console/login")
    client.post("/console/login", data={"csrf_token": csrf_of(login.text), "token": district.token})
    csrf = csrf_of(client.get("/console").text)

    stale = client.post(f"/console/enterprises/{FIRM}/edit", data={
        "csrf_token": "from-an-old-tab", "name": "上街精密新名称有限公司", "region_code": SHANGJIE})
    assert stale.status_code == 403
    assert "已过期的页面" in stale.text
    assert 'value="上街精密新名称有限公司"' in stale.text  # offered again, with this session's token

    with api_sessions.begin() as session:
        session.execute(update(ConsoleSessionRecord).values(
            last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)))
    typed = {"csrf_token": csrf, "name": "上街精密新名称有限公司", "region_code": SHANGJIE, "reason": "工商变更"}
    expired = client.post(f"/console/enterprises/{FIRM}/edit", data=typed)
    assert expired.status_code == 401
    assert "会话已过期" in expired.text
    assert 'name="resume.reason" value="工商变更"' in expired.text
    assert client.get("/console", follow_redirects=False).headers["location"].startswith("/console/login")

    fields = dict(re.findall(r'name="(resume\.[a-z_]+)" value="([^"]*)"', expired.text))
    back = client.post("/console/login", data={"csrf_token": csrf_of(expired.text), "token": district.token,
                                               "next": f"/console/enterprises/{FIRM}/edit", **fields})
    assert back.status_code == 200
    assert "您在会话过期前填写的内容已保留" in back.text
    resubmit = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', back.text))
    assert resubmit["reason"] == "工商变更"
    done = client.post(f"/console/enterprises/{FIRM}/edit", data=resubmit, follow_redirects=False)
    assert done.status_code == 303
    assert events(api_sessions, FIRM)[-1].evidence["changes"]["name"]["to"] == "上街精密新名称有限公司"
    assert client.get("/console/no-such-page").status_code == 404
