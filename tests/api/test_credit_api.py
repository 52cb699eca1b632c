"""Credit for banks: the ceiling and white-list of a firm on a date, from the policy packs in force then."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from api_support import Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]

ZZ_DISTRICT = "410102"  # 郑州市中原区: Zhengzhou's packs cover it
SHANGJIE = "410106"


def _credit(client: TestClient, caller: Caller, uscc: str, as_of: str, **query: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/enterprises/{uscc}/credit", params={"as_of": as_of, **query},
                          headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _climb(client: TestClient, caller: Caller, uscc: str, *steps: tuple[str, str]) -> None:
    enroll(client, caller, uscc, on="2022-01-10")
    for trigger, on in steps:
        fire(client, caller, uscc, trigger, on)


def test_ceilings_follow_the_pack_window_the_titles_held_and_the_firms_status(
        client: TestClient, principals: dict[str, Caller]) -> None:
    city, province = principals["city"], principals["province"]
    hashes = {p["id"]: p["content_hash"] for p in client.get("/api/v1/policies", headers=city.headers).json()["items"]}
    provincial = make_uscc(ZZ_DISTRICT, 1501)
    _climb(client, city, provincial, ("recognize_innovative", "2022-03-01"), ("recognize_provincial", "2024-06-01"))
    before = _credit(client, city, provincial, "2025-02-10")  # the day before 郑工信企业〔2025〕4号 comes into force
    assert (before["highest_title"], before["ceiling_yuan"], before["headroom_yuan"]) == ("provincial", None, None)
    assert before["whitelisted"] is True
    assert before["policies"] == [{"id": "zhengzhou-2022-36", "hash": hashes["zhengzhou-2022-36"],
                                   "used_for": "whitelist"}]
    assert "无适用于河南省中原区（410102）的授信政策" in before["basis"]  # the place by name, then its code
    first_day = _credit(client, city, provincial, "2025-02-11")
    assert (first_day["ceiling_yuan"], first_day["headroom_yuan"], first_day["outstanding_yuan"]) == (
        30_000_000, 30_000_000, 0)
    ceiling_pack = {"id": "zhengzhou-2025-4", "hash": hashes["zhengzhou-2025-4"], "used_for": "ceiling"}
    assert ceiling_pack in first_day["policies"]
    assert "郑工信企业〔2025〕4号" in first_day["basis"]
    assert "3000万元" in first_day["basis"]
    assert _credit(client, city, provincial, "2025-12-31")["ceiling_yuan"] == 30_000_000
    assert _credit(client, city, provincial, "2026-01-01")["ceiling_yuan"] is None  # the pack's window has ended

    lapsing = make_uscc(ZZ_DISTRICT, 1502)  # innovative from 2022-03-01: valid through 2025-02-28
    _climb(client, city, lapsing, ("recognize_innovative", "2022-03-01"))
    last_day = _credit(client, city, lapsing, "2025-02-28")
    assert (last_day["highest_title"], last_day["ceiling_yuan"], last_day["whitelisted"]) == (
        "innovative", 10_000_000, False)
    lapsed = _credit(client, city, lapsing, "2025-03-01")  # no sweep has run: the state is still innovative
    assert (lapsed["highest_title"], lapsed["ceiling_yuan"], lapsed["headroom_yuan"]) == (None, 0, 0)
    assert "失效" in lapsed["basis"]

    national = make_uscc(SHANGJIE, 1503)
    _climb(client, city, national, ("recognize_innovative", "2022-03-01"), ("recognize_provincial", "2023-03-01"),
           ("recognize_national", "2024-03-01"))
    assert _credit(client, city, national, "2025-06-01")["ceiling_yuan"] == 50_000_000
    fire(client, city, national, "revoke", "2025-07-01")
    revoked = _credit(client, city, national, "2025-07-01")
    assert (revoked["ceiling_yuan"], revoked["whitelisted"]) == (0, False)
    assert "已撤销" in revoked["basis"]
    assert _credit(client, city, national, "2025-06-30")["ceiling_yuan"] == 50_000_000  # the day before

    reserve = make_uscc(ZZ_DISTRICT, 1504)
    enroll(client, city, reserve, on="2025-01-10")
    assert _credit(client, city, reserve, "2025-06-01")["ceiling_yuan"] == 0

    sanmenxia = make_uscc("411202", 1505)  # no credit pack or white-list covers 三门峡
    _climb(client, province, sanmenxia, ("recognize_innovative", "2022-03-01"), ("recognize_provincial", "2024-03-01"))
    elsewhere = _credit(client, province, sanmenxia, "2025-06-01")
    assert (elsewhere["ceiling_yuan"], elsewhere["whitelisted"], elsewhere["policies"]) == (None, False, [])


def test_known_at_answers_as_recorded_then_and_jurisdiction_and_roles_are_kept(
        client: TestClient, principals: dict[str, Caller]) -> None:
    city = principals["city"]
    firm = make_uscc(ZZ_DISTRICT, 1511)
    _climb(client, city, firm, ("recognize_innovative", "2025-03-01"))
    recorded_then = dt.datetime.now(dt.UTC).isoformat()
    fire(client, city, firm, "recognize_provincial", "2025-04-01")
    assert _credit(client, city, firm, "2025-05-01")["ceiling_yuan"] == 30_000_000
    then = _credit(client, city, firm, "2025-05-01", known_at=recorded_then)
    assert (then["highest_title"], then["ceiling_yuan"]) == ("innovative", 10_000_000)
    assert _credit(client, principals["auditor"], firm, "2025-05-01")["ceiling_yuan"] == 30_000_000
    assert _credit(client, principals["integrator"], firm, "2025-05-01")["ceiling_yuan"] == 30_000_000
    assert_problem(client.get(f"/api/v1/enterprises/{firm}/credit", headers=principals["sanmenxia"].headers),
                   404, "not-found")


def test_whitelist_pages_filters_and_spreadsheets(client: TestClient, principals: dict[str, Caller]) -> None:
    city = principals["city"]
    firms = {name: make_uscc(region, serial) for name, region, serial in (
        ("provincial", ZZ_DISTRICT, 1521), ("national", ZZ_DISTRICT, 1522), ("innovative", ZZ_DISTRICT, 1523),
        ("shangjie", SHANGJIE, 1524))}
    steps: list[tuple[str, str]] = [("recognize_innovative", "2022-03-01")]
    _climb(client, city, firms["innovative"], *steps)
    steps.append(("recognize_provincial", "2023-03-01"))
    _climb(client, city, firms["provincial"], *steps)
    _climb(client, city, firms["shangjie"], *steps)
    _climb(client, city, firms["national"], *steps, ("recognize_national", "2024-03-01"))
    url = "/api/v1/credit/whitelist"
    first = client.get(url, params={"as_of": "2025-03-01", "limit": 2}, headers=city.headers).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = client.get(url, params={"as_of": "2025-03-01", "limit": 2, "cursor": first["next_cursor"]},
                        headers=city.headers).json()
    listed = {item["uscc"]: item for item in first["items"] + second["items"]}
    assert second["next_cursor"] is None
    assert set(listed) == {firms["provincial"], firms["national"], firms["shangjie"]}  # 省级 and above only
    assert listed[firms["national"]]["ceiling_yuan"] == 50_000_000
    assert listed[firms["provincial"]]["highest_title_label"] == "省级专精特新中小企业"
    only_national = client.get(url, params={"as_of": "2025-03-01", "tier": "national"}, headers=city.headers).json()
    assert [i["uscc"] for i in only_national["items"]] == [firms["national"]]
    shangjie = client.get(url, params={"as_of": "2025-03-01"}, headers=principals["district"].headers).json()
    assert [i["uscc"] for i in shangjie["items"]] == [firms["shangjie"]]
    elsewhere = client.get(url, params={"as_of": "2025-03-01"}, headers=principals["sanmenxia"].headers)
    assert elsewhere.json()["items"] == []

    csv = client.get(url, params={"as_of": "2025-03-01"}, headers={**city.headers, "Accept": "text/csv"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:3] == ["序号", "统一社会信用代码", "企业名称"]
    assert "无抵押授信上限（元）" in lines[0]
    assert len(lines) == 4
    xlsx = client.get(url, params={"as_of": "2025-03-01", "format": "xlsx", "region": SHANGJIE}, headers=city.headers)
    assert xlsx.status_code == 200
    rows = list(load_workbook(io.BytesIO(xlsx.content), read_only=True).active.iter_rows(values_only=True))
    assert rows[0][5] == "最高称号"
    assert len(rows) == 2
    assert (rows[1][1], rows[1][6], rows[1][8]) == (firms["shangjie"], "provincial", 30_000_000)
    assert_problem(client.get(url, params={"tier": "giant"}, headers=city.headers), 422, "validation-error")
