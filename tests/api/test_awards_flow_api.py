"""The awards ledger's way to payment: approved by the payer's level, paid share by share by its own finance
bureau, cancelled, clawed back and settled — each change on the entitlement's own chain; listed, budgeted and
reported (拨付清单). One database per module (both engines): each test uses firms of its own."""

from __future__ import annotations

import csv
import gc
import io
import itertools
import sys
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from api_support import Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient
from helpers import template_copy

from api.main import create_app
from pipeline.db import unit_of_work
from pipeline.principals.service import add_principal

ZZ = "410102"  # 郑州市中原区: the Zhengzhou pack
ZHANHE = "410411"  # 平顶山市湛河区: Zhanhe's pack, paid 50/50 by 410400 and 410411
HUBIN = "411202"  # 三门峡市湖滨区: Sanmenxia's matching, paid by the county

PRINCIPALS: dict[str, tuple[str, str | None, str | None]] = {
    "zz": ("official", "city", "410100"), "zhanhe": ("official", "district", "410411"),
    "pds": ("official", "city", "410400"), "province": ("official", "province", "410000"),
    "smx": ("official", "city", "411200"), "fin_zz": ("finance", None, "410100"),
    "fin_pds": ("finance", None, "410400"), "fin_zhanhe": ("finance", None, "410411"),
    "auditor": ("auditor", None, "410000"), "admin": ("admin", None, None),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with template_copy(request, tmp_path_factory.mktemp("awards")) as url:
        yield url


@pytest.fixture(scope="module")
def api(module_database: str) -> Iterator[tuple[TestClient, dict[str, Caller]]]:
    app = create_app(module_database)
    callers = {}
    with unit_of_work(app.state.session_factory) as session:
        for name, (role, level, region) in PRINCIPALS.items():
            made = add_principal(session, name=f"awards {name}", role=role, level=level, region_code=region,
                                 grants=[], created_by="cli:test")
            callers[name] = Caller(made.principal.id, made.token)
    with TestClient(app) as client:
        yield client, callers


def _items(client: TestClient, caller: Caller, uscc: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/enterprises/{uscc}/awards", headers=caller.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _post(client: TestClient, caller: Caller, url: str, body: dict[str, Any] | None = None, *, expect: int = 200,
          **headers: str) -> dict[str, Any]:
    response = client.post(url, json=body, headers=caller.with_headers(**headers))
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def _provincial(client: TestClient, caller: Caller, uscc: str, on: str = "2024-03-01") -> None:
    enroll(client, caller, uscc, on="2022-01-10")
    fire(client, caller, uscc, "recognize_innovative", f"{int(on[:4]) - 1}-02-01")
    fire(client, caller, uscc, "recognize_provincial", on)


PAY = {"paid_on": "2025-06-30", "document_no": "平财〔2025〕8号"}


def test_zhanhe_shares_are_approved_by_each_payers_level_and_paid_by_each_finance_bureau(
        api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    firm = make_uscc(ZHANHE, 1501)
    _provincial(client, p["province"], firm)
    fire(client, p["province"], firm, "recognize_national", "2025-03-01")
    provincial, national = _items(client, p["zhanhe"], firm)
    # Zhanhe's own amounts, mode full: the national award is not reduced by the provincial one
    assert [(i["gross_amount"], i["net_amount"], i["offsets"]) for i in (provincial, national)] == [
        (200_000, 200_000, []), (500_000, 500_000, [])]
    url = f"/api/v1/awards/{provincial['id']}"
    assert_problem(client.post(f"{url}/approve", headers=p["fin_zhanhe"].headers), 403, "forbidden")
    assert_problem(client.post(f"{url}/pay", json=PAY, headers=p["fin_zhanhe"].headers), 409, "illegal-transition")
    body = _post(client, p["zhanhe"], f"{url}/approve", {"reason": "区级审定"})
    # the district approves its own share only: the city's share waits for a city official
    assert [(s["region_code"], s["status"]) for s in body["payers"]] == [("410400", "entitled"),
                                                                         ("410411", "approved")]
    assert body["status"] == "entitled"
    assert_problem(client.post(f"{url}/approve", headers=p["zhanhe"].headers), 403, "forbidden")
    assert _post(client, p["pds"], f"{url}/approve")["status"] == "approved"
    assert_problem(client.post(f"{url}/approve", headers=p["pds"].headers), 409, "illegal-transition")
    assert_problem(client.post(f"{url}/pay", json=PAY, headers=p["pds"].headers), 403, "forbidden")
    assert_problem(client.post(f"{url}/pay", json=PAY, headers=p["fin_zz"].headers), 404, "not-found")
    paid = _post(client, p["fin_zhanhe"], f"{url}/pay", PAY)
    assert paid["status"] == "partially_paid"
    assert paid["payers"][1] == {"region_code": "410411", "amount": 100_000, "status": "paid",
                                 "paid_on": "2025-06-30", "document_no": "平财〔2025〕8号"}
    first = client.post(f"{url}/pay", json=PAY, headers=p["fin_pds"].with_headers(idempotency_key="pay-1501"))
    again = client.post(f"{url}/pay", json=PAY, headers=p["fin_pds"].with_headers(idempotency_key="pay-1501"))
    assert first.status_code == again.status_code == 200, first.text
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["status"] == "paid"
    assert_problem(client.post(f"{url}/cancel", json={"reason": "x"}, headers=p["pds"].headers), 409,
                   "illegal-transition")
    chain = client.get(f"{url}/history", headers=p["auditor"].headers).json()["items"]
    assert [(r["seq"], r["action"], r["status"], r["actor"]) for r in chain] == [
        (1, "create", "entitled", p["province"].id), (2, "approve", "entitled", p["zhanhe"].id),
        (3, "approve", "approved", p["pds"].id), (4, "pay", "partially_paid", p["fin_zhanhe"].id),
        (5, "pay", "paid", p["fin_pds"].id)]
    assert all(r["prev_hash"] == before["hash"] for before, r in itertools.pairwise(chain))
    assert chain[1]["reason"] == "区级审定"
    assert chain[1]["details"]["change"]["shares"] == ["410411"]
    assert chain[4]["details"]["change"]["document_no"] == "平财〔2025〕8号"
    assert chain[4]["request_id"]


def test_a_paid_award_falls_due_for_clawback_when_its_recognition_is_voided_and_is_then_settled(
        api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    firm = make_uscc(ZZ, 1502)
    _provincial(client, p["zz"], firm, on="2025-03-01")
    (item,) = _items(client, p["zz"], firm)
    url = f"/api/v1/awards/{item['id']}"
    assert_problem(client.post(f"{url}/settle", json={"reason": "x"}, headers=p["zz"].headers), 409,
                   "illegal-transition")
    _post(client, p["zz"], f"{url}/approve")
    _post(client, p["fin_zz"], f"{url}/pay", {"paid_on": "2025-07-01", "document_no": "郑财〔2025〕1号"})
    _post(client, p["zz"], f"/api/v1/enterprises/{firm}/events/3/void", {"reason": "认定文件录入错误"})
    (item,) = _items(client, p["zz"], firm)
    assert (item["status"], item["payers"][0]["status"]) == ("clawback_due", "clawback_due")
    assert_problem(client.post(f"{url}/settle", json={"reason": "x"}, headers=p["fin_zz"].headers), 403, "forbidden")
    settled = _post(client, p["zz"], f"{url}/settle", {"reason": "已全额退回", "document_no": "缴款书001"})
    assert (settled["status"], settled["payers"][0]["status"]) == ("settled", "settled")
    actions = [r["action"] for r in client.get(f"{url}/history", headers=p["zz"].headers).json()["items"]]
    assert actions == ["create", "approve", "pay", "void", "settle"]


def test_batch_approval_is_all_or_nothing_and_cancel_needs_a_reason(
        api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    firms = [make_uscc(ZZ, n) for n in (1503, 1504)]
    for firm in firms:
        _provincial(client, p["zz"], firm, on="2025-04-01")
    ids = [_items(client, p["zz"], firm)[0]["id"] for firm in firms]
    assert client.post(f"/api/v1/awards/{ids[1]}/cancel", json={}, headers=p["zz"].headers).status_code == 422
    cancelled = _post(client, p["zz"], f"/api/v1/awards/{ids[1]}/cancel", {"reason": "企业放弃申领"})
    assert (cancelled["status"], cancelled["payers"][0]["status"]) == ("cancelled", "cancelled")
    refused = assert_problem(client.post("/api/v1/awards/approve", json={"ids": ids}, headers=p["zz"].headers),
                             422, "batch-refused")
    assert [(i["id"], i["type"]) for i in refused["items"]] == [(ids[1], "illegal-transition")]
    assert _items(client, p["zz"], firms[0])[0]["status"] == "entitled"  # nothing of the batch was written
    done = _post(client, p["province"], "/api/v1/awards/approve", {"ids": [ids[0]]})
    assert [i["status"] for i in done["items"]] == ["approved"]


def test_the_list_pages_by_keyset_within_the_callers_jurisdiction(
        api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    firms = [make_uscc(ZHANHE, n) for n in (1505, 1506, 1507)]
    for firm in firms:
        _provincial(client, p["pds"], firm, on="2023-05-01")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"payer": "410400", "year": 2023, "status": "entitled", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/awards", params=params, headers=p["pds"].headers).json()
        seen += [item["uscc"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == firms
    assert client.get("/api/v1/awards", params={"year": 2023, "region": ZHANHE},
                      headers=p["zz"].headers).status_code == 422  # outside Zhengzhou's jurisdiction
    mine = client.get("/api/v1/awards", params={"year": 2023, "policy": "zhanhe-2022-8"}, headers=p["zz"].headers)
    assert mine.json() == {"items": [], "next_cursor": None}
    assert client.get("/api/v1/awards", params={"payer": "410100", "year": 2023},
                      headers=p["pds"].headers).json()["items"] == []


def test_budgets_and_the_yearly_report_with_its_payout_list(api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    other = make_uscc(ZHANHE, 1509)
    enroll(client, p["pds"], other, on="2021-01-10", name="湛河精工有限公司")
    fire(client, p["pds"], other, "recognize_innovative", "2021-02-01")
    fire(client, p["pds"], other, "recognize_provincial", "2022-08-01")
    (item,) = _items(client, p["pds"], other)
    _post(client, p["pds"], f"/api/v1/awards/{item['id']}/approve")
    _post(client, p["fin_pds"], f"/api/v1/awards/{item['id']}/pay", {"paid_on": "2022-12-20",
                                                                     "document_no": "平财〔2022〕99号"})
    put = client.put("/api/v1/budgets/410400/2022", json={"amount": 3_000_000}, headers=p["fin_pds"].headers)
    assert put.status_code == 200, put.text
    assert (put.json()["amount"], put.json()["actor"]) == (3_000_000, p["fin_pds"].id)
    assert client.put("/api/v1/budgets/410400/2022", json={"amount": 2_500_000},
                      headers=p["pds"].headers).status_code == 200
    assert_problem(client.put("/api/v1/budgets/410400/2022", json={"amount": 1}, headers=p["zhanhe"].headers),
                   403, "forbidden")
    assert_problem(client.put("/api/v1/budgets/410400/2022", json={"amount": 1}, headers=p["auditor"].headers),
                   403, "forbidden")
    report = client.get("/api/v1/reports/awards", params={"year": 2022, "region": "410400"},
                        headers=p["pds"].headers)
    assert report.status_code == 200, report.text
    rows = {(r["policy_id"], r["payer_region"]): r for r in report.json()["items"]}
    assert rows[("zhanhe-2022-8", "410400")] == {
        "policy_id": "zhanhe-2022-8", "document_no": "平湛政办〔2022〕8号", "payer_region": "410400",
        "owed": 100_000, "approved": 0, "paid": 100_000, "outstanding": 0, "budget": 2_500_000}
    # the city official approved both halves; the district has not paid its own
    assert (rows[("zhanhe-2022-8", "410411")]["approved"], rows[("zhanhe-2022-8", "410411")]["outstanding"]) == (
        100_000, 100_000)
    city, district = report.json()["payers"]  # payers within 410400: the city and the district below it
    assert (city["payer_region"], city["paid"], city["budget"], city["budget_left"]) == (
        "410400", 100_000, 2_500_000, 2_400_000)
    assert (district["payer_region"], district["owed"], district["budget"]) == ("410411", 100_000, None)
    csv_file = client.get("/api/v1/reports/awards", params={"year": 2022, "format": "csv"},
                          headers=p["fin_pds"].headers)
    assert csv_file.status_code == 200
    assert csv_file.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert {"企业名称", "统一社会信用代码", "企业区划代码", "付款方区划代码", "应享金额（元）"} <= set(table[0])
    lines = [dict(zip(table[0], line, strict=True)) for line in table[1:]]
    assert {(row["企业名称"], row["统一社会信用代码"], row["付款方区划代码"], row["状态"]) for row in lines} == {
        ("湛河精工有限公司", other, "410400", "已拨付"), ("湛河精工有限公司", other, "410411", "已审批待拨付")}
    xlsx = client.get("/api/v1/reports/awards", params={"year": 2022}, headers=p["fin_pds"].with_headers(
        accept="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    assert xlsx.status_code == 200, xlsx.text
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert "企业名称" in next(sheet.iter_rows(values_only=True))
    unraisable: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:  # a file that fails half-written leaves no writer behind
        patch.setattr(sys, "unraisablehook", unraisable.append)
        assert_problem(client.get("/api/v1/reports/awards", params={"year": 2022, "region": "000000",
                                                                     "format": "xlsx"}, headers=p["pds"].headers),
                       422, "invalid-region")
        gc.collect()
    assert unraisable == []
    verify = client.get("/api/v1/audit/verify", headers=p["admin"].headers).json()
    assert verify["ok"] is True, verify


def test_a_firm_moving_in_gets_a_manual_entitlement_topped_up_like_any_other(
        api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    firm = make_uscc(ZZ, 1510)
    _provincial(client, p["zz"], firm, on="2024-05-01")
    body = {"uscc": firm, "policy_id": "zhengzhou-2022-36", "award_id": "national", "effective_date": "2025-05-01",
            "basis": "整体迁入本市且正常经营一年，参照新认定补贴标准", "evidence": {"document": "迁入备案2024-17"}}
    assert_problem(client.post("/api/v1/awards", json=body, headers=p["auditor"].headers), 403, "forbidden")
    assert_problem(client.post("/api/v1/awards", json={**body, "policy_id": "zhanhe-2022-8"},
                               headers=p["zz"].headers), 422, "validation-error")
    made = _post(client, p["zz"], "/api/v1/awards", body, expect=201)
    provincial = _items(client, p["zz"], firm)[0]
    assert (made["manual"], made["gross_amount"], made["net_amount"]) == (True, 2_000_000, 1_500_000)
    assert [(o["entitlement_id"], o["amount"]) for o in made["offsets"]] == [(provincial["id"], 500_000)]
    assert (made["basis"], made["evidence"], made["achievement"]["seq"]) == (body["basis"], body["evidence"], None)


def test_side_titles_earn_their_awards_and_top_up_the_chain(api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    climber = make_uscc(ZZ, 1511)
    _provincial(client, p["zz"], climber, on="2023-03-01")
    fire(client, p["zz"], climber, "recognize_national", "2024-03-01")
    _post(client, p["zz"], f"/api/v1/enterprises/{climber}/side-titles",
          {"kind": "champion_enterprise", "granted_on": "2025-01-10", "document_no": "工信部产业函〔2025〕1号"},
          expect=201)
    items = _items(client, p["zz"], climber)
    assert [(i["award_id"], i["gross_amount"], i["net_amount"]) for i in items] == [
        ("provincial", 500_000, 500_000), ("national", 2_000_000, 1_500_000),
        ("champion_enterprise", 5_000_000, 3_000_000)]
    assert items[2]["achievement"]["side_title_kind"] == "champion_enterprise"
    assert [o["entitlement_id"] for o in items[2]["offsets"]] == [items[0]["id"], items[1]["id"]]
    product = make_uscc(ZZ, 1512)
    enroll(client, p["zz"], product, on="2024-01-10")
    _post(client, p["zz"], f"/api/v1/enterprises/{product}/side-titles",
          {"kind": "champion_product", "granted_on": "2025-01-10", "document_no": "工信部产业函〔2025〕2号",
           "product": "高精度轴承"}, expect=201)
    assert [(i["award_id"], i["net_amount"]) for i in _items(client, p["zz"], product)] == [
        ("champion_product", 1_000_000)]
    matched = make_uscc(HUBIN, 1513)
    enroll(client, p["smx"], matched, on="2022-01-10")
    _post(client, p["province"], f"/api/v1/enterprises/{matched}/side-titles",
          {"kind": "key_little_giant", "granted_on": "2023-06-01", "document_no": "财建〔2023〕1号",
           "funds_yuan": 6_000_000}, expect=201)
    (match,) = _items(client, p["smx"], matched)
    assert (match["award_id"], match["net_amount"]) == ("key_little_giant_matching", 6_000_000)
    assert match["payers"][0]["region_code"] == HUBIN  # the firm's county pays (所在地受益财政)
    late = make_uscc(HUBIN, 1515)  # Sanmenxia's pack ends on 2025-12-31
    enroll(client, p["smx"], late, on="2022-01-10")
    _post(client, p["province"], f"/api/v1/enterprises/{late}/side-titles",
          {"kind": "key_little_giant", "granted_on": "2026-01-01", "document_no": "财建〔2026〕1号",
           "funds_yuan": 6_000_000}, expect=201)
    body = client.get(f"/api/v1/enterprises/{late}/awards", headers=p["smx"].headers).json()
    assert body["items"] == []
    assert [(u["side_title_kind"], u["reason"][:14]) for u in body["unearned"]] == [
        ("key_little_giant", "outside_window")]


def test_an_api_backfill_takes_awards(api: tuple[TestClient, dict[str, Caller]]) -> None:
    client, p = api
    firm = make_uscc(ZZ, 1514)
    rows = [("统一社会信用代码", "企业名称", "称号", "认定日期", "批次"),
            (firm, "回填企业", "创新型中小企业", "2022-03-01", "2022-创新"),
            (firm, "回填企业", "省级专精特新中小企业", "2023-03-01", "2023-豫-1")]
    text = "\n".join(",".join(row) for row in rows).encode("utf-8")
    response = client.post("/api/v1/imports", files={"file": ("history.csv", text, "text/csv")},
                           data={"action": "backfill", "dry_run": "false", "awards": "owed"},
                           headers=p["zz"].headers)
    assert response.status_code == 200, response.text
    assert (response.json()["entitlements"], response.json()["options"]["awards"]) == (1, "owed")
    (item,) = _items(client, p["zz"], firm)
    assert (item["status"], item["settled_outside_system"]) == ("entitled", False)
