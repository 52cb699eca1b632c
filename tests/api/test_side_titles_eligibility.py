"""Eligibility reads side titles: a valid 高新技术企业 satisfies the innovative direct route without the indicator
being keyed; a valid 科技型中小企业 is an entry route under miit-2026 only."""

from __future__ import annotations

from typing import Any

from api_support import BASE, Caller, enroll, make_uscc
from fastapi.testclient import TestClient
from test_eligibility_api import WORKED, put

from pipeline.dates import business_today

LOW_SCORE = {**WORKED, "revenue_growth": -0.1, "debt_ratio": 0.9, "main_business_share": 0.4}  # 30 points
TODAY = business_today()


def _grant(client: TestClient, caller: Caller, uscc: str, kind: str) -> None:
    response = client.post(f"{BASE}/{uscc}/side-titles", headers=caller.headers, json={
        "kind": kind, "granted_on": TODAY.isoformat(), "document_no": "文〔2025〕1号",
        "valid_until": TODAY.replace(year=TODAY.year + 1).isoformat()})
    assert response.status_code == 201, response.text


def _judged(client: TestClient, caller: Caller, uscc: str, rulebook: str) -> tuple[Any, Any]:
    response = client.get(f"{BASE}/{uscc}/eligibility", params={"tier": "innovative", "rulebook": rulebook},
                          headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()["passed"], response.json()["direct_condition"]


def test_a_valid_high_tech_title_is_the_direct_route_under_both_rulebooks(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 71)
    enroll(client, city, uscc, on="2025-01-10")
    put(client, city, uscc, 2025, LOW_SCORE)  # certifications keyed empty: the title is not in the indicators
    assert _judged(client, city, uscc, "miit-2022") == (False, None)
    _grant(client, city, uscc, "high_tech_enterprise")
    assert _judged(client, city, uscc, "miit-2022") == (True, "high_tech_side_title")
    assert _judged(client, city, uscc, "miit-2026") == (True, "high_tech_side_title")


def test_a_valid_tech_sme_listing_is_an_entry_route_under_miit_2026_only(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 72)
    enroll(client, city, uscc, on="2025-01-10")
    put(client, city, uscc, 2025, LOW_SCORE)
    _grant(client, city, uscc, "tech_sme")
    assert _judged(client, city, uscc, "miit-2022") == (False, None)
    assert _judged(client, city, uscc, "miit-2026") == (True, "tech_sme_side_title")


def test_the_candidate_list_counts_the_side_title_route(client: TestClient, city: Caller) -> None:
    titled, plain = make_uscc("410106", 73), make_uscc("410106", 74)
    for uscc in (titled, plain):
        enroll(client, city, uscc, on="2025-01-10")
        put(client, city, uscc, 2025, LOW_SCORE)
    _grant(client, city, titled, "high_tech_enterprise")
    response = client.get("/api/v1/candidates", params={"tier": "innovative"}, headers=city.headers)
    assert response.status_code == 200, response.text
    outcomes = {item["uscc"]: item["outcome"] for item in response.json()["items"]}
    assert outcomes.get(titled) == "pass"
    assert plain not in outcomes  # 30 points: neither passing nor near


def test_the_recognition_warning_reads_side_titles(client: TestClient, city: Caller) -> None:
    titled, plain = make_uscc("410106", 75), make_uscc("410106", 76)
    for uscc in (titled, plain):
        enroll(client, city, uscc, on="2025-01-10")
        put(client, city, uscc, 2025, LOW_SCORE)
    _grant(client, city, titled, "high_tech_enterprise")
    evidence = {}
    for uscc in (titled, plain):
        response = client.post(f"{BASE}/{uscc}/transitions", headers=city.headers, json={
            "trigger": "recognize_innovative", "effective_date": TODAY.isoformat(),
            "evidence": {"document_no": "郑工信〔2026〕9号"}})
        assert response.status_code == 200, response.text
        evidence[uscc] = response.json()["event"]["evidence"]
    assert "eligibility_warning" not in evidence[titled]
    assert evidence[plain]["eligibility_warning"]["passed"] is False
