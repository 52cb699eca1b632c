"""The awards ledger: a recognition entitles the firm by itself (免申即享), from the policy packs in force."""

from __future__ import annotations

from typing import Any

from api_support import Caller, enroll, fire, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.models import Entitlement

ZZ_DISTRICT = "410102"  # 郑州市中原区: covered by the Zhengzhou pack only
ZHANHE = "410411"


def _awards(client: TestClient, caller: Caller, uscc: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/enterprises/{uscc}/awards", headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _climb(client: TestClient, caller: Caller, uscc: str, *, provincial: str = "2023-03-01",
           national: str | None = "2024-03-01") -> None:
    enroll(client, caller, uscc, on="2022-01-10")
    fire(client, caller, uscc, "recognize_innovative", "2022-02-01")
    fire(client, caller, uscc, "recognize_provincial", provincial)
    if national:
        fire(client, caller, uscc, "recognize_national", national)


def test_zhengzhou_top_up_chain_provincial_then_national(client: TestClient, principals: dict[str, Caller]) -> None:
    firm = make_uscc(ZZ_DISTRICT, 1401)
    _climb(client, principals["city"], firm)
    items = _awards(client, principals["city"], firm)["items"]
    assert [(i["award_id"], i["gross_amount"], i["net_amount"]) for i in items] == [
        ("provincial", 500_000, 500_000), ("national", 2_000_000, 1_500_000)]
    provincial, national = items
    assert national["offsets"] == [{"entitlement_id": provincial["id"], "amount": 500_000,
                                    "reason": national["offsets"][0]["reason"]}]
    assert national["achievement"] == {"seq": 4, "trigger": "recognize_national", "effective_date": "2024-03-01"}
    assert national["payers"] == [{"region_code": "410100", "amount": 1_500_000, "status": "entitled",
                                   "paid_on": None, "document_no": None}]
    assert national["status"] == "entitled"
    assert national["policy_id"] == "zhengzhou-2022-36"
    assert len(national["policy_hash"]) == 64
    # the firm's own chain is untouched: four events, no award event among them
    history = client.get(f"/api/v1/enterprises/{firm}/history", headers=principals["city"].headers).json()
    assert [e["trigger"] for e in history["items"]] == [
        "enroll", "recognize_innovative", "recognize_provincial", "recognize_national"]


def test_zhanhe_first_time_awards_split_fifty_fifty_between_city_and_district(
        client: TestClient, principals: dict[str, Caller]) -> None:
    firm = make_uscc(ZHANHE, 1402)
    _climb(client, principals["province"], firm, national=None)
    (item,) = _awards(client, principals["province"], firm)["items"]
    assert (item["policy_id"], item["gross_amount"], item["net_amount"]) == ("zhanhe-2022-8", 200_000, 200_000)
    assert [(p["region_code"], p["amount"]) for p in item["payers"]] == [("410400", 100_000), ("410411", 100_000)]


def test_a_repeated_recognition_earns_nothing_under_a_first_time_award_and_says_why(
        client: TestClient, principals: dict[str, Caller]) -> None:
    firm = make_uscc(ZZ_DISTRICT, 1403)
    city = principals["city"]
    _climb(client, city, firm, national=None)
    fire(client, city, firm, "demote", "2023-09-01")
    fire(client, city, firm, "recognize_provincial", "2024-03-01")
    body = _awards(client, city, firm)
    assert [i["award_id"] for i in body["items"]] == ["provincial"]
    (why,) = body["unearned"]
    assert (why["seq"], why["trigger"], why["policy_id"]) == (5, "recognize_provincial", "zhengzhou-2022-36")
    assert why["reason"].startswith("not_first")


def test_window_edges_and_jurisdiction(client: TestClient, principals: dict[str, Caller]) -> None:
    province = principals["province"]
    on_first_day = make_uscc(ZHANHE, 1404)
    _climb(client, province, on_first_day, provincial="2022-06-05", national=None)
    assert [i["net_amount"] for i in _awards(client, province, on_first_day)["items"]] == [200_000]
    day_before = make_uscc(ZHANHE, 1405)
    _climb(client, province, day_before, provincial="2022-06-04", national=None)
    body = _awards(client, province, day_before)
    assert body["items"] == []
    assert body["unearned"][0]["reason"].startswith("outside_window")
    elsewhere = make_uscc("410300", 1406)  # 洛阳: no pack covers it
    _climb(client, province, elsewhere, national=None)
    assert _awards(client, province, elsewhere) == {"items": [], "unearned": []}


def test_a_district_award_in_the_citys_group_is_superseded_by_the_higher_city_award(
        client: TestClient, principals: dict[str, Caller]) -> None:
    put = client.put("/api/v1/policies/shangjie-2023-3/awards/provincial", json={"amount": 300_000},
                     headers=principals["district"].headers)
    assert put.status_code == 200, put.text
    firm = make_uscc("410106", 1407)
    _climb(client, principals["city"], firm, national=None)
    items = _awards(client, principals["city"], firm)["items"]
    by_policy = {i["policy_id"]: i for i in items}
    city, district = by_policy["zhengzhou-2022-36"], by_policy["shangjie-2023-3"]
    assert (city["net_amount"], city["superseded_by"]) == (500_000, None)
    assert (district["gross_amount"], district["net_amount"], district["superseded_by"]) == (300_000, 0, city["id"])
    assert district["policy_hash"] == put.json()["content_hash"]


def test_voiding_the_recognition_cancels_its_unpaid_entitlement_on_the_awards_own_chain(
        client: TestClient, principals: dict[str, Caller]) -> None:
    firm = make_uscc(ZZ_DISTRICT, 1408)
    city = principals["city"]
    _climb(client, city, firm, national=None)
    voided = client.post(f"/api/v1/enterprises/{firm}/events/3/void", json={"reason": "录入错误"},
                         headers=city.headers)
    assert voided.status_code == 200, voided.text
    (item,) = _awards(client, city, firm)["items"]
    assert item["status"] == "cancelled"
    assert [p["status"] for p in item["payers"]] == ["cancelled"]
    chain = client.get(f"/api/v1/awards/{item['id']}/history", headers=city.headers).json()["items"]
    assert [(r["seq"], r["action"], r["status"]) for r in chain] == [(1, "create", "entitled"),
                                                                     (2, "void", "cancelled")]
    assert chain[1]["prev_hash"] == chain[0]["hash"]


def test_audit_verify_checks_award_chains_and_finds_a_tampered_record(
        client: TestClient, principals: dict[str, Caller], api_sessions: sessionmaker[Session]) -> None:
    firm = make_uscc(ZZ_DISTRICT, 1409)
    _climb(client, principals["city"], firm, national=None)
    verify = client.get("/api/v1/audit/verify", headers=principals["admin"].headers)
    assert verify.status_code == 200, verify.text
    assert verify.json()["ok"] is True
    with api_sessions() as session, session.begin():
        entitlement = session.query(Entitlement).filter_by(uscc=firm).one()
        session.execute(text("UPDATE award_entitlements SET last_seq = 2 WHERE id = :id"), {"id": entitlement.id})
    report = client.get("/api/v1/audit/verify", headers=principals["admin"].headers).json()
    assert report["ok"] is False
    assert any("award records missing" in p["problem"] for p in report["problems"])
