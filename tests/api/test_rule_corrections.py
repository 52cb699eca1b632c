"""The rule corrections of issue 13, each through the API: renewals need a document number (4), and a title
keeps the label of the rulebook that recognised it (5)."""

from __future__ import annotations

import csv
import io

from api_support import BASE, Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient

from pipeline.dates import business_today

MIIT_2022_NAME = "创新型中小企业"
MIIT_2026_NAME = "科技和创新型中小企业"


def test_renew_needs_a_document_number_while_recognitions_take_a_batch(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 81)
    enroll(client, city, uscc, on="2022-09-01")
    fire(client, city, uscc, "recognize_innovative", "2022-09-01", evidence={"batch": "2022-创新-1"})
    refused = fire(client, city, uscc, "renew", "2025-08-01", expect=409, evidence={"batch": "2025-复核-1"})
    body = assert_problem(refused, 409, "guard-failed")
    assert body["guard"] == "decision_evidence_required"
    assert "document_no" in body["detail"]
    fire(client, city, uscc, "renew", "2025-08-01", evidence={"document_no": "豫工信企业〔2025〕9号"})


def test_a_title_keeps_the_label_of_the_rulebook_that_recognised_it(client: TestClient, city: Caller) -> None:
    assert business_today().isoformat() >= "2026-04-01"  # miit-2026 is in force today
    old, new = make_uscc("410106", 82), make_uscc("410106", 83)
    enroll(client, city, old, on="2025-01-10")
    fire(client, city, old, "recognize_innovative", "2025-02-01")
    enroll(client, city, new, on="2026-05-01")
    fire(client, city, new, "recognize_innovative", "2026-05-01")
    for uscc, name in ((old, MIIT_2022_NAME), (new, MIIT_2026_NAME)):
        firm = client.get(f"{BASE}/{uscc}", headers=city.headers).json()
        assert firm["state_label"] == MIIT_2026_NAME  # the state follows the rulebook in force today
        assert [t["tier_label"] for t in firm["recognitions"]] == [name]
    roster = client.get("/api/v1/roster", params={"tier": "innovative", "as_of": "2026-06-01"},
                        headers=city.headers).json()
    assert {i["uscc"]: i["titles"][0]["tier_label"] for i in roster["items"]} == {
        old: MIIT_2022_NAME, new: MIIT_2026_NAME}
    exported = client.get("/api/v1/exports/roster", params={"format": "csv", "as_of": "2026-06-01"},
                          headers=city.headers)
    rows = csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))
    assert {r["统一社会信用代码"]: r["称号"] for r in rows} == {old: MIIT_2022_NAME, new: MIIT_2026_NAME}


def test_the_little_giant_list_takes_innovative_firms_scored_without_the_provincial_condition(
        client: TestClient, city: Caller) -> None:
    innovative_firm, provincial_firm, reserve_firm = (make_uscc("410106", n) for n in (84, 85, 86))
    for uscc in (innovative_firm, provincial_firm, reserve_firm):
        enroll(client, city, uscc, on="2025-01-10")
    for uscc in (innovative_firm, provincial_firm):
        fire(client, city, uscc, "recognize_innovative", "2025-02-01")
    fire(client, city, provincial_firm, "recognize_provincial", "2025-03-01")
    for uscc in (innovative_firm, provincial_firm):
        pinned = client.post("/api/v1/candidates/national/marks", headers=city.headers,
                             json={"uscc": uscc, "action": "pin", "reason": "高分创新型企业，重点培育"})
        assert pinned.status_code == 200, pinned.text
    refused = client.post("/api/v1/candidates/national/marks", headers=city.headers,
                          json={"uscc": reserve_firm, "action": "pin", "reason": "x"})
    assert assert_problem(refused, 409, "guard-failed")["guard"] == "candidate_list_state"
    put_values = {"independent_legal_person": True}  # some data, so both are scored
    for uscc in (innovative_firm, provincial_firm):
        assert client.put(f"{BASE}/{uscc}/indicators/2025", json=put_values, headers=city.headers).status_code == 200
    body = client.get("/api/v1/candidates", params={"tier": "national"}, headers=city.headers).json()
    items = {item["uscc"]: item for item in body["items"]}
    assert (items[innovative_firm]["state"], items[innovative_firm]["prerequisite_missing"]) == (
        "innovative", "provincial")
    assert (items[provincial_firm]["state"], items[provincial_firm]["prerequisite_missing"]) == ("provincial", None)
    assert "holds_provincial" not in items[innovative_firm]["unmet"]
