"""PATCH as an amendment event, and a history anyone can verify with the README's recipe."""

from __future__ import annotations

from api_support import BASE, SANMENXIA, Caller, assert_problem, enroll, event_count, fire, make_uscc, readme_hash
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.dates import business_today


def test_patch_records_an_amendment_with_the_changes(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 1)
    enroll(client, city, uscc, name="旧名称有限公司")
    response = client.patch(f"{BASE}/{uscc}", headers=city.with_headers(If_Match='"1"'), json={
        "name": "新名称股份有限公司", "region_code": "410102", "data": {"industry": "装备制造"},
        "reason": "营业执照变更"})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    body = response.json()
    assert (body["name"], body["region_code"]) == ("新名称股份有限公司", "410102")
    assert body["data"] == {"industry": "装备制造"}
    amendment = client.get(f"{BASE}/{uscc}/history", headers=city.headers).json()["items"][-1]
    assert (amendment["kind"], amendment["trigger"], amendment["seq"]) == ("amendment", None, 2)
    assert amendment["effective_date"] == business_today().isoformat()
    assert amendment["reason"] == "营业执照变更"
    assert amendment["evidence"]["changes"]["name"] == {"from": "旧名称有限公司", "to": "新名称股份有限公司"}
    assert amendment["evidence"]["changes"]["region_code"] == {"from": "410106", "to": "410102"}


def test_patch_refusals(client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 2)
    enroll(client, city, uscc, name="同名")
    assert_problem(client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"name": "同名"}), 422,
                   "validation-error")  # nothing to change
    assert_problem(client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"state": "national"}), 422,
                   "validation-error")  # state changes only by transitions
    moved_out = client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"region_code": SANMENXIA})
    assert assert_problem(moved_out, 409, "guard-failed")["guard"] == "region_within_jurisdiction"
    assert_problem(client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"region_code": "999999"}), 422,
                   "invalid-region")
    assert_problem(client.patch(f"{BASE}/{make_uscc('410106', 3)}", headers=city.headers, json={"name": "x"}),
                   404, "not-found")
    assert event_count(api_sessions, uscc) == 1


def test_history_is_in_seq_order_and_verifies_by_the_readme_recipe(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 4)
    enroll(client, city, uscc, on="2022-09-01")
    fire(client, city, uscc, "recognize_innovative", "2022-09-01", evidence={"document_no": "豫〔2022〕1号"})
    fire(client, city, uscc, "recognize_provincial", "2022-10-01")
    client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"data": {"联系人": "张三"}})
    history = client.get(f"{BASE}/{uscc}/history", headers=city.headers).json()
    items = history["items"]
    assert history["hash_recipes"] == {"1": "jcs-1", "2": "jcs-1", "3": "jcs-1", "4": "jcs-1"}
    assert [event["seq"] for event in items] == [1, 2, 3, 4]
    assert [event["trigger"] for event in items] == ["enroll", "recognize_innovative", "recognize_provincial", None]
    prev = "0" * 64
    for event in items:
        # The README's fifteen hashed fields, nothing else: the recipe runs on the items as returned.
        fields = {key: value for key, value in event.items() if key not in ("prev_hash", "hash")}
        assert len(fields) == 15
        assert event["prev_hash"] == prev
        assert event["hash"] == readme_hash(prev, fields)
        prev = event["hash"]
    assert items[1]["evidence"]["document_no"] == "豫〔2022〕1号"
    assert items[0]["recorded_at"].endswith("Z")


def test_history_of_an_unknown_firm_is_404(client: TestClient, city: Caller) -> None:
    assert_problem(client.get(f"{BASE}/{make_uscc('410106', 5)}/history", headers=city.headers), 404, "not-found")
