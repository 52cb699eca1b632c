"""Application rounds (issue 16): 申报 → 推荐 (within the quota) → 认定, where approval is the recognition itself
(awards follow), a refused recognition leaves the application recommended, and rejections keep the points
lost — reported per child region as the 靶向培育 list."""

from __future__ import annotations

from typing import Any

from api_support import Caller, assert_problem, make_uscc
from fastapi.testclient import TestClient
from helpers import walk
from sqlalchemy.orm import Session, sessionmaker

from pipeline.history import ledger

ZHONGYUAN, SHANGJIE = "410102", "410106"
FIRST = make_uscc(SHANGJIE, 1611)     # recommended and approved
SECOND = make_uscc(SHANGJIE, 1612)    # over Shangjie's quota of one, then not recommended
RESERVE = make_uscc(ZHONGYUAN, 1613)  # recommended, but holds no innovative title: the recognition is refused
ROUND = {"tier": "provincial", "year": 2025, "batch": "2025年第一批", "opens_on": "2025-03-01",
         "closes_on": "2025-04-30", "document_no": "豫工信企业〔2025〕20号"}


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_round_from_application_to_recognition(client: TestClient, principals: dict[str, Caller],
                                                 api_sessions: sessionmaker[Session]) -> None:
    province, city, district = principals["province"], principals["city"], principals["district"]
    for firm in (FIRST, SECOND):
        walk(api_sessions, firm, [("enroll", "2024-01-05"), ("recognize_innovative", "2024-02-01")])
    walk(api_sessions, RESERVE, [("enroll", "2024-01-05")])
    _ok(client.put("/api/v1/quotas/410100/2025/provincial", headers=city.headers, json={"base": {SHANGJIE: 1}}))

    assert_problem(client.post("/api/v1/rounds", json=ROUND, headers=city.headers), 403, "forbidden")
    round_id = _ok(client.post("/api/v1/rounds", json=ROUND, headers=province.headers), 201)["id"]
    assert_problem(client.post("/api/v1/rounds", json=ROUND, headers=province.headers), 409, "already-exists")

    applications = f"/api/v1/rounds/{round_id}/applications"
    first = _ok(client.post(applications, json={"uscc": FIRST, "submitted_on": "2025-03-10"},
                            headers=district.with_headers(idempotency_key="apply-1")), 201)
    again = client.post(applications, json={"uscc": FIRST, "submitted_on": "2025-03-10"},
                        headers=district.with_headers(idempotency_key="apply-1"))
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json()["id"] == first["id"]
    assert_problem(client.post(applications, json={"uscc": FIRST, "submitted_on": "2025-03-11"},
                               headers=district.headers), 409, "already-exists")
    assert_problem(client.post(applications, json={"uscc": SECOND, "submitted_on": "2025-05-02"},
                               headers=district.headers), 409, "guard-failed")
    second = _ok(client.post(applications, json={"uscc": SECOND, "submitted_on": "2025-04-01"},
                             headers=district.headers), 201)
    reserve = _ok(client.post(applications, json={"uscc": RESERVE, "submitted_on": "2025-04-02"},
                              headers=city.headers), 201)
    assert (first["status"], first["eligibility"]) == (
        "applied", f"/api/v1/enterprises/{FIRST}/eligibility?tier=provincial")

    def act(application: dict[str, Any], verb: str, caller: Caller, **body: Any) -> Any:
        return client.post(f"/api/v1/applications/{application['id']}/{verb}", json=body or None,
                           headers=caller.headers)

    assert_problem(act(first, "recommend", district), 403, "forbidden")
    assert _ok(act(first, "recommend", city))["status"] == "recommended"
    over = assert_problem(act(second, "recommend", city), 409, "quota-exceeded")
    assert (over["quota"], over["recommended"], over["region_code"]) == (1, 1, SHANGJIE)
    assert _ok(act(second, "recommend", city, recommended=False))["status"] == "not_recommended"
    assert_problem(act(second, "withdraw", district), 409, "guard-failed")  # only applied or recommended
    _ok(act(reserve, "recommend", city))  # Zhongyuan has no quota: not limited

    decision = {"outcome": "approved", "decided_on": "2025-06-15", "document_no": "豫工信企业〔2025〕50号"}
    approved = _ok(act(first, "decide", province, **decision))
    assert (approved["status"], approved["recognition_seq"], approved["document_no"]) == (
        "approved", 3, "豫工信企业〔2025〕50号")
    firm = _ok(client.get(f"/api/v1/enterprises/{FIRST}/history", headers=province.headers))["items"][-1]
    assert (firm["trigger"], firm["effective_date"]) == ("recognize_provincial", "2025-06-15")
    assert (firm["evidence"]["batch"], firm["evidence"]["document_no"]) == ("2025年第一批", "豫工信企业〔2025〕50号")
    awards = _ok(client.get(f"/api/v1/enterprises/{FIRST}/awards", headers=province.headers))["items"]
    assert {a["achievement"]["trigger"] for a in awards} == {"recognize_provincial"}

    assert_problem(act(reserve, "decide", province, **decision), 409, "illegal-transition")
    assert_problem(act(reserve, "decide", province, **{**decision, "outcome": "rejected", "lost_points": [
        {"criterion": "luck", "points": 5}]}), 422, "validation-error")
    rejected = _ok(act(reserve, "decide", province, **{**decision, "outcome": "rejected", "lost_points": [
        {"criterion": "rd_ratio", "points": 5, "note": "研发投入占比不足"},
        {"criterion": "market_share", "points": 3}]}))
    assert rejected["status"] == "rejected"
    assert_problem(act(rejected, "decide", province, **decision), 409, "guard-failed")

    listed = _ok(client.get(applications, headers=city.headers))["items"]
    assert [(a["uscc"], a["status"]) for a in listed] == [
        (FIRST, "approved"), (SECOND, "not_recommended"), (RESERVE, "rejected")]

    report = _ok(client.get("/api/v1/reports/applications?year=2025&region=410100", headers=city.headers))
    by_region = {item["region_code"]: item for item in report["items"]}
    shangjie, zhongyuan = by_region[SHANGJIE], by_region[ZHONGYUAN]
    assert (shangjie["applied"], shangjie["recommended"], shangjie["approved"], shangjie["conversion_rate"]) == (
        2, 1, 1, 0.5)
    assert (zhongyuan["applied"], zhongyuan["approved"], zhongyuan["conversion_rate"]) == (1, 0, 0.0)
    assert [(c["criterion"], c["points"], c["applications"]) for c in zhongyuan["lost_points"]] == [
        ("rd_ratio", 5, 1), ("market_share", 3, 1)]
    (lost,) = zhongyuan["firms"]
    assert lost["uscc"] == RESERVE
    assert lost["eligibility"] == f"/api/v1/enterprises/{RESERVE}/eligibility?tier=provincial"
    assert (report["total"]["applied"], report["total"]["approved"]) == (3, 1)

    with api_sessions() as session:
        assert ledger.verify_chains(session) == []
        assert [r.action for r in ledger.records(session, "rounds", str(round_id))] == ["open"]
        assert [r.action for r in ledger.records(session, "applications", str(first["id"]))] == [
            "apply", "recommend", "approved"]
        assert [r.details["status"] for r in ledger.records(session, "applications", str(reserve["id"]))] == [
            "applied", "recommended", "rejected"]  # the refused approval left nothing behind
