"""Targets measured from the events, quotas from completion rates, and the 通报 workbook (issue 16).

One worked case per test (each on a fresh database, SQLite and PostgreSQL): Zhengzhou's 2025 targets against
four firms — a first provincial recognition, a renewal (not new), a recognition voided by a correction (never
counts, but did as recorded before the void), and a re-recognition after a lapse (counts) — and Zhanhe's
growth targets against its 2022 baseline.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from api_support import Caller, assert_problem, make_uscc
from fastapi.testclient import TestClient
from helpers import walk
from sqlalchemy.orm import Session, sessionmaker

from pipeline.access import cli_actor
from pipeline.cli.main import main
from pipeline.dates import utc_now
from pipeline.db import unit_of_work
from pipeline.firms import service as firms
from pipeline.history import corrections, ledger
from pipeline.titles import service as side_titles

ZHONGYUAN, SHANGJIE, ZHANHE = "410102", "410106", "410411"
FIRST = make_uscc(ZHONGYUAN, 1601)    # provincial for the first time in 2025: new
RENEWED = make_uscc(SHANGJIE, 1602)   # provincial since 2022, renewed in 2025: held, not new
VOIDED = make_uscc(SHANGJIE, 1603)    # provincial in 2025, voided: never counts
AGAIN = make_uscc(ZHONGYUAN, 1604)    # provincial 2021, lapsed, recognised again in 2025: new
ZH_BASE = make_uscc(ZHANHE, 1605)     # provincial 2022 (the baseline), lapsed by the end of 2025
ZH_NEW = make_uscc(ZHANHE, 1606)      # provincial 2025


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _item(items: list[dict[str, Any]], region: str, tier: Any, kind: str) -> dict[str, Any]:
    (found,) = [i for i in items if i["region_code"] == region and i["tier"] == tier and i["kind"] == kind]
    return found


def _history(factory: sessionmaker[Session]) -> dt.datetime:
    """The four Zhengzhou firms and the two Zhanhe firms; returns a time after the voided recognition was
    recorded and before its correction."""
    walk(factory, FIRST, [("enroll", "2024-01-05"), ("recognize_innovative", "2024-02-01")])
    with unit_of_work(factory) as session:
        side_titles.grant(session, FIRST, kind="tech_sme", granted_on=dt.date(2024, 6, 1), document_no="科技型2024",
                          actor=cli_actor("cli:test"))
    walk(factory, FIRST, [("recognize_provincial", "2025-03-01")])
    with unit_of_work(factory) as session:  # a champion product in 2025: new; a tech SME listed again: not new
        admin = cli_actor("cli:test")
        side_titles.grant(session, FIRST, kind="tech_sme", granted_on=dt.date(2025, 1, 1), document_no="科技型2025",
                          actor=admin)
        side_titles.grant(session, FIRST, kind="champion_product", granted_on=dt.date(2025, 5, 1),
                          document_no="工信部产业函〔2025〕301号", product="主轴", actor=admin)
    walk(factory, RENEWED, [("enroll", "2021-12-01"), ("recognize_innovative", "2022-01-10"),
                            ("recognize_provincial", "2022-03-01"), ("renew", "2025-02-20")])
    walk(factory, AGAIN, [("enroll", "2021-01-05"), ("recognize_innovative", "2021-01-10"),
                          ("recognize_provincial", "2021-03-01"), ("demote", "2024-03-05"),
                          ("recognize_innovative", "2024-04-01"), ("recognize_provincial", "2025-06-01")])
    walk(factory, ZH_BASE, [("enroll", "2022-01-05"), ("recognize_innovative", "2022-01-10"),
                            ("recognize_provincial", "2022-03-01")])
    walk(factory, ZH_NEW, [("enroll", "2024-01-05"), ("recognize_innovative", "2024-02-01"),
                           ("recognize_provincial", "2025-03-01")])
    walk(factory, VOIDED, [("enroll", "2024-01-05"), ("recognize_innovative", "2024-02-01"),
                           ("recognize_provincial", "2025-05-01")])
    before_void = utc_now()
    with unit_of_work(factory) as session:
        corrections.void(session, VOIDED, 3, actor=cli_actor("cli:test"), reason="认定文件录错企业")
    with unit_of_work(factory) as session:  # moved to Shangjie today: in 2025 it was Zhongyuan's
        firms.amend(session, AGAIN, changes={"region_code": SHANGJIE}, actor=cli_actor("cli:test"))
    return before_void


def test_targets_progress_quotas_and_the_workbook(client: TestClient, principals: dict[str, Caller],
                                                   api_sessions: sessionmaker[Session], database_url: str,
                                                   tmp_path: Path) -> None:
    city, district, auditor = principals["city"], principals["district"], principals["auditor"]
    first = [{"tier": "provincial", "kind": "new", "value": 5, "document_no": "郑工信企业〔2025〕4号"}]
    _ok(client.put("/api/v1/targets/410100/2025", json={"items": first}, headers=city.headers))
    items = [{"tier": "provincial", "kind": "new", "value": 4, "document_no": "郑工信企业〔2025〕4号"},
             {"tier": "provincial", "kind": "total", "value": 6, "document_no": "郑政办〔2022〕36号"},
             {"tier": ["provincial", "national"], "kind": "total", "value": 10, "document_no": "郑政办〔2022〕36号"}]
    revised = _ok(client.put("/api/v1/targets/410100/2025", json={"items": items},
                             headers=city.with_headers(idempotency_key="t-1")))
    assert (revised["version"], revised["versions"], len(revised["items"])) == (2, 2, 3)
    replayed = client.put("/api/v1/targets/410100/2025", json={"items": items},
                          headers=city.with_headers(idempotency_key="t-1"))
    assert replayed.headers.get("Idempotency-Replayed") == "true"
    assert replayed.json()["version"] == 2
    old = _ok(client.get("/api/v1/targets/410100/2025?version=1", headers=city.headers))
    assert (old["version"], old["items"][0]["value"]) == (1, 5)
    _ok(client.put(f"/api/v1/targets/{ZHONGYUAN}/2025", headers=city.headers, json={"items": [
        {"tier": "provincial", "kind": "new", "value": 2, "document_no": "中原工信〔2025〕1号"},
        {"tier": "champion_product", "kind": "new", "value": 2, "document_no": "中原工信〔2025〕1号"},
        {"tier": "tech_sme", "kind": "new", "value": 1, "document_no": "中原工信〔2025〕1号"}]}))
    _ok(client.put(f"/api/v1/targets/{ZHANHE}/2025", headers=principals["province"].headers, json={"items": [
        {"tier": "provincial", "kind": "growth", "value": 3, "baseline_date": "2022-12-31",
         "document_no": "平湛政办〔2022〕8号"},
        {"tier": "national", "kind": "growth", "value": 4, "baseline_date": "2022-12-31",
         "document_no": "平湛政办〔2022〕8号"}]}))
    assert_problem(client.put("/api/v1/targets/410100/2025", json={"items": items}, headers=district.headers),
                   403, "forbidden")
    assert_problem(client.put("/api/v1/targets/410100/2025", json={"items": items}, headers=auditor.headers),
                   403, "forbidden")
    assert_problem(client.put("/api/v1/targets/410100/2025", headers=city.headers, json={"items": [
        {"tier": "provincial", "kind": "growth", "value": 2, "document_no": "x"}]}), 422, "validation-error")

    before_void = _history(api_sessions)

    progress = _ok(client.get("/api/v1/targets/progress?year=2025&region=410100", headers=auditor.headers))
    assert progress["as_of"] == "2025-12-31"
    got = progress["items"]
    assert _item(got, "410100", "provincial", "new") == {
        "region_code": "410100", "region_name": "河南省郑州市", "tier": "provincial", "kind": "new", "target": 4,
        "actual": 2, "completion": 0.5, "remaining": 2}
    assert (_item(got, "410100", "provincial", "total")["actual"],
            _item(got, "410100", "provincial", "total")["completion"]) == (3, 0.5)
    assert _item(got, "410100", ["provincial", "national"], "total")["actual"] == 3
    own = [i for i in got if i["region_code"] == ZHONGYUAN]
    assert [(i["tier"], i["target"], i["actual"], i["completion"], i["remaining"]) for i in own] == [
        ("provincial", 2, 2, 1.0, 0), ("champion_product", 2, 1, 0.5, 1), ("tech_sme", 1, 0, 0.0, 1)]
    shangjie = {i["kind"]: i for i in got if i["region_code"] == SHANGJIE and i["tier"] == "provincial"}
    assert (shangjie["new"]["actual"], shangjie["total"]["actual"]) == (0, 1)  # renewal not new; voided not held
    assert {i["target"] for i in got if i["region_code"] == SHANGJIE} == {None}
    assert len({i["region_code"] for i in got}) == 13  # Zhengzhou and its 12 districts and counties

    district = _ok(client.get(f"/api/v1/targets/progress?year=2025&region={ZHONGYUAN}", headers=city.headers))
    assert [(i["tier"], i["actual"]) for i in district["items"]] == [  # AGAIN counts where it was
        ("provincial", 2), ("champion_product", 1), ("tech_sme", 0)]

    replayed = _ok(client.get("/api/v1/targets/progress", headers=city.headers, params={
        "year": 2025, "region": "410100", "known_at": utc_now().isoformat().replace("+00:00", "Z")}))
    assert replayed["items"] == got  # the replay of the events and the title rows agree

    known = before_void.isoformat().replace("+00:00", "Z")
    then = _ok(client.get("/api/v1/targets/progress", params={"year": 2025, "region": "410100", "known_at": known},
                          headers=city.headers))["items"]
    assert _item(then, SHANGJIE, "provincial", "new")["actual"] == 1  # as recorded before the void

    assert_problem(client.get(f"/api/v1/targets/progress?year=2025&region={ZHANHE}", headers=city.headers),
                   404, "not-found")  # outside Zhengzhou's jurisdiction
    growth = _ok(client.get(f"/api/v1/targets/progress?year=2025&region={ZHANHE}",
                            headers=principals["province"].headers))["items"]
    assert _item(growth, ZHANHE, "provincial", "growth") == {
        "region_code": ZHANHE, "region_name": "河南省湛河区", "tier": "provincial", "kind": "growth", "target": 3,
        "actual": 1, "completion": 1 / 3, "remaining": 2}
    national = _item(growth, ZHANHE, "national", "growth")
    assert (national["target"], national["actual"], national["completion"]) == (0, 0, None)  # zero baseline

    quota = _ok(client.put("/api/v1/quotas/410100/2025/provincial", headers=city.headers, json={
        "base": {ZHONGYUAN: 1, SHANGJIE: 1}, "bonus": [{"min_completion": 0.5, "extra": 1},
                                                      {"min_completion": 1.0, "extra": 2}],
        "based_on": {"tier": "provincial", "kind": "new"}}))
    assert [(i["region_code"], i["base"], i["completion"], i["bonus"], i["quota"]) for i in quota["items"]] == [
        (ZHONGYUAN, 1, 1.0, 2, 3), (SHANGJIE, 1, None, 0, 1)]
    listed = _ok(client.get("/api/v1/quotas?region=410100&year=2025&tier=provincial", headers=auditor.headers))
    assert listed["items"][0]["items"] == quota["items"]
    assert_problem(client.put("/api/v1/quotas/410100/2025/provincial", headers=city.headers, json={
        "base": {"411202": 1}}), 422, "validation-error")

    report = _ok(client.get("/api/v1/reports/progress?year=2025&region=410100", headers=city.headers))
    sheet, both, champion, _tech = report["sheets"]
    assert [(row["rank"], row["region_code"]) for row in champion["rows"]] == [(1, ZHONGYUAN)]
    assert champion["rows"][0]["measures"]["new"]["completion"] == 0.5
    assert champion["total"]["measures"]["new"] == {"target": None, "actual": 1, "completion": None,
                                                    "remaining": None}  # the city has no such target
    assert both["tier"] == ["provincial", "national"]
    assert both["kinds"] == ["total"]
    assert (sheet["tier"], sheet["rank_by"], sheet["kinds"]) == ("provincial", "new", ["new", "total"])
    assert sheet["rows"][0]["region_code"] == ZHONGYUAN
    assert sheet["rows"][0]["rank"] == 1
    assert sheet["total"]["measures"]["new"]["actual"] == 2
    assert report["quotas_and_applications"][0]["quota"] == 3
    _check_workbook(client.get("/api/v1/reports/progress?year=2025&region=410100&format=xlsx",
                               headers=city.headers).content, report)
    accepted = client.get("/api/v1/reports/progress?year=2025&region=410100", headers=city.with_headers(
        accept="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    assert accepted.content[:2] == b"PK"
    table = client.get("/api/v1/reports/progress?year=2025&region=410100&format=csv", headers=city.headers)
    assert table.headers["content-type"].startswith("text/csv")
    assert table.content.decode("utf-8-sig").splitlines()[0] == "梯度,类型,排名,区划代码,地区,目标,实际,完成率,尚差"

    out = tmp_path / "通报.xlsx"
    assert main(["--database-url", database_url, "report", "progress", "--year", "2025", "--region", "410100",
                 "-o", str(out)]) == 0
    _check_workbook(out.read_bytes(), report)
    with api_sessions() as session:
        assert ledger.verify_chains(session) == []
        assert [r.action for r in ledger.records(session, "targets", "410100/2025")] == ["set", "revise"]
        assert [r.action for r in ledger.records(session, "quotas", "410100/2025/provincial")] == ["set"]


def _check_workbook(content: bytes, report: dict[str, Any]) -> None:
    book = openpyxl.load_workbook(io.BytesIO(content))
    assert len(book.sheetnames) == 5
    assert (book.sheetnames[0], book.sheetnames[-1]) == ("省级专精特新中小企业", "名额与申报")
    sheet = book["省级专精特新中小企业"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == ["排名", "区划代码", "地区", "新增目标", "新增实际", "新增完成率", "新增尚差",
                             "总量目标", "总量实际", "总量完成率", "总量尚差"]
    json_sheet = report["sheets"][0]
    for row, expected in zip(rows[1:], json_sheet["rows"], strict=False):
        cells = [expected["measures"].get(kind, {}).get(field) for kind in ("new", "total")
                 for field in ("target", "actual", "completion", "remaining")]
        assert row == (expected["rank"], expected["region_code"], expected["region_name"], *cells)
    assert rows[len(json_sheet["rows"]) + 1][:5] == ("合计", "410100", "河南省郑州市", 4, 2)
    (chart,) = sheet._charts
    assert chart.tagname == "barChart"
    quota_rows = list(book["名额与申报"].iter_rows(values_only=True))
    assert quota_rows[0][:7] == ("区划代码", "地区", "梯度", "基础名额", "完成率", "奖励名额", "推荐名额")
    assert quota_rows[1][:7] == (ZHONGYUAN, "河南省中原区", "省级", 1, 1.0, 2, 3)


def test_load_seeds_puts_each_seed_region_year_once(database_url: str, session_factory: sessionmaker[Session],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", database_url]
    assert main([*db, "targets", "load-seeds"]) == 0
    printed = capsys.readouterr().out
    assert "410100" in printed
    assert "002_0e451c3db42b1ca0.txt" in printed
    assert "version 1" in printed
    assert main([*db, "targets", "load-seeds"]) == 0
    assert capsys.readouterr().out.count("unchanged") == 3
    with session_factory() as session:
        zhanhe = ledger.records(session, "targets", f"{ZHANHE}/2025")
        assert [i["value"] for i in zhanhe[-1].details["items"]] == [3, 4]
        zhengzhou = ledger.records(session, "targets", "410100/2025")[-1].details["items"]
        assert {"tier": ["champion_enterprise", "champion_product"], "kind": "total", "value": 15,
                "document_no": "郑政办〔2022〕36号"} in zhengzhou
