"""Henan's 特色化 overlay over the API: stored and scored for a 郑州 firm, refused and absent for a Beijing one."""

from __future__ import annotations

from api_support import Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient
from test_eligibility_api import WORKED, put

ENT = "/api/v1/enterprises"
HENAN = {"henan_key_chain_product": True, "henan_standards_count": 1, "henan_featured_products": 0}  # 5 + 3 + 0


def test_a_zhengzhou_firm_gets_the_characteristic_category_a_beijing_firm_does_not(client: TestClient,
                                                                                   admin: Caller) -> None:
    zhengzhou, beijing = make_uscc("410106", 71), make_uscc("110105", 72)
    for uscc in (zhengzhou, beijing):
        enroll(client, admin, uscc)

    put(client, admin, zhengzhou, 2025, {**WORKED, **HENAN})
    stored = client.get(f"{ENT}/{zhengzhou}/indicators/2025", headers=admin.headers).json()
    assert {key: stored["indicators"][key] for key in HENAN} == HENAN
    assert stored["derived"]["rd_ratio"] == 0.04  # derivation still runs beside the overlay keys

    body = client.get(f"{ENT}/{zhengzhou}/eligibility", params={"tier": "provincial", "rulebook": "miit-2022"},
                      headers=admin.headers).json()
    assert body["category_points"] == {"characteristic": 8}
    (category,) = body["categories"]
    assert (category["code"], category["overlay"], category["points_range"], category["max_points"]) == (
        "characteristic", "henan-2023", [8, 8], 15)
    assert [(item["code"], item["points"]) for item in body["items"]] == [
        ("henan_key_chain_product", 5), ("henan_standards", 3), ("henan_featured_products", 0)]
    assert [(ref["id"], ref["region"], len(ref["content_hash"])) for ref in body["overlays"]] == [
        ("henan-2023", "410000", 64)]
    assert "provincial_score" in body["missing"]  # the province's score stays open: 8 points complete nothing

    assert_problem(client.put(f"{ENT}/{beijing}/indicators/2025", json={**WORKED, **HENAN}, headers=admin.headers),
                   422, "validation-error")  # Henan's indicators are not Beijing's
    put(client, admin, beijing, 2025, WORKED)
    other = client.get(f"{ENT}/{beijing}/eligibility", params={"tier": "provincial", "rulebook": "miit-2022"},
                       headers=admin.headers).json()
    assert (other["categories"], other["category_points"], other["overlays"]) == ([], {}, [])
    assert [item["code"] for item in other["items"]] == []


def test_the_provincial_candidate_list_carries_the_characteristic_points(client: TestClient, admin: Caller) -> None:
    uscc = make_uscc("410106", 73)
    enroll(client, admin, uscc)
    put(client, admin, uscc, 2025, {**WORKED, **HENAN})
    fire(client, admin, uscc, "recognize_innovative", "2025-02-01")  # now in the provincial list's pool
    pin = client.post("/api/v1/candidates/provincial/marks", headers=admin.headers,
                      json={"uscc": uscc, "action": "pin", "reason": "主导产品属省重点产业链"})
    assert pin.status_code == 200, pin.text  # pinned: listed whatever its result
    response = client.get("/api/v1/candidates", params={"tier": "provincial", "rulebook": "miit-2022"},
                          headers=admin.headers)
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert (item["uscc"], item["category_points"]) == (uscc, {"characteristic": 8})


def test_a_recognition_warning_names_the_overlay_it_was_scored_with(client: TestClient, admin: Caller) -> None:
    uscc = make_uscc("410106", 74)
    enroll(client, admin, uscc)
    put(client, admin, uscc, 2025, {**WORKED, **HENAN})
    fire(client, admin, uscc, "recognize_innovative", "2026-01-05")
    event = fire(client, admin, uscc, "recognize_provincial", "2026-01-06").json()["event"]
    warning = event["evidence"]["eligibility_warning"]  # recorded: the authority decides; our data disagrees
    assert warning["passed"] is not True
    assert "provincial_score" in warning["missing"]
    assert [(ref["id"], ref["region"], len(ref["content_hash"])) for ref in warning["overlays"]] == [
        ("henan-2023", "410000", 64)]
