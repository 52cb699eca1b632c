"""GET …/eligibility: a firm's indicators judged against a tier, with the points written out."""

from __future__ import annotations

from typing import Any

from api_support import Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient

ENT = "/api/v1/enterprises"

#: The 创新型 worked example: IP 15 + R&D 15 (innovation 30), growth 15 + debt 5 (20), field 10 + share 15 (25).
WORKED = {
    "independent_legal_person": True, "is_sme": True, "on_abnormal_or_dishonest_list": False,
    "major_incident_or_tax_violation_3y": False, "awards": [], "certifications": [], "rd_institution_level": "none",
    "equity_financing_3y": 0, "ip_high_value_class1": 0, "ip_self_developed_class1": 1, "ip_class1_count": 1,
    "ip_class2_count": 0, "rd_spend": 400_000, "revenue": 10_000_000, "revenue_growth": 0.12, "debt_ratio": 0.60,
    "strategic_emerging_field": True, "main_business_share": 0.65,
}


def put(client: TestClient, caller: Caller, uscc: str, year: int, values: dict[str, Any]) -> None:
    response = client.put(f"{ENT}/{uscc}/indicators/{year}", json=values, headers=caller.headers)
    assert response.status_code == 200, response.text


def test_the_worked_example_passes_with_its_points(client: TestClient, district: Caller) -> None:
    uscc = make_uscc("410106", 41)
    enroll(client, district, uscc)
    put(client, district, uscc, 2024, {**WORKED, "rd_spend": 100_000})  # an older year: 1% → 5 points
    put(client, district, uscc, 2025, WORKED)  # rd_ratio derived: 400,000 / 10,000,000 = 4% → 15 points
    response = client.get(f"{ENT}/{uscc}/eligibility", headers=district.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tier"], body["year"], body["assessment_year"], body["rulebook_id"]) == (
        "innovative", 2025, 2026, "miit-2026")  # defaults: the tier above reserve, the latest year, today's rules
    assert (body["outcome"], body["passed"], body["total_points"]) == ("pass", True, 75)
    assert body["category_points"] == {"innovation": 30, "growth": 20, "specialisation": 25}
    assert [(i["code"], i["points"]) for i in body["items"]] == [
        ("ip", 15), ("rd_ratio", 15), ("revenue_growth", 15), ("debt_ratio", 5), ("strategic_emerging_field", 10),
        ("main_business_share", 15)]
    assert body["items"][1]["band_zh"]
    assert body["items"][1]["value"] == 0.04
    assert (body["unmet"], body["missing"], body["gap"]["rank_key"]) == ([], [], [0, 0, 0])

    older = client.get(f"{ENT}/{uscc}/eligibility", params={"year": 2024, "rulebook": "miit-2022"},
                       headers=district.headers).json()
    assert (older["year"], older["rulebook_id"], older["total_points"]) == (2024, "miit-2022", 65)  # 75 − 15 + 5


def test_missing_data_is_unknown_never_zero(client: TestClient, district: Caller) -> None:
    uscc = make_uscc("410106", 42)
    enroll(client, district, uscc)
    put(client, district, uscc, 2025, {key: value for key, value in WORKED.items() if key != "revenue_growth"})
    body = client.get(f"{ENT}/{uscc}/eligibility", headers=district.headers).json()
    assert (body["outcome"], body["passed"], body["total_points"]) == ("unknown", None, None)
    assert body["missing"] == ["revenue_growth"]  # growth 0–20 leaves the category (5–25, min 15) open
    growth = next(item for item in body["items"] if item["code"] == "revenue_growth")
    assert (growth["points"], growth["points_range"], growth["missing"]) == (None, [0, 20], ["revenue_growth"])
    assert body["category_points"]["growth"] is None

    bare = make_uscc("410106", 43)
    enroll(client, district, bare)
    none = client.get(f"{ENT}/{bare}/eligibility", headers=district.headers).json()
    assert (none["has_data"], none["outcome"]) == (False, "unknown")
    assert "revenue_growth" in none["missing"]


def test_unmet_conditions_speak_both_languages(client: TestClient, admin: Caller) -> None:
    uscc = make_uscc("410106", 44)
    enroll(client, admin, uscc)
    put(client, admin, uscc, 2025, {**WORKED, "is_sme": False})
    body = client.get(f"{ENT}/{uscc}/eligibility", params={"tier": "innovative"}, headers=admin.headers).json()
    assert body["outcome"] == "fail"
    assert body["total_points"] == 75
    sme = next(entry for entry in body["unmet"] if entry["code"] == "sme")
    assert (sme["status"], sme["label_en"]) == ("failed", "An SME under 工信部联企业〔2011〕300号")
    assert "中小企业" in sme["label_zh"]
    assert body["gap"]["conditions"] == ["sme"]

    provincial = client.get(f"{ENT}/{uscc}/eligibility", params={"tier": "provincial"}, headers=admin.headers).json()
    assert provincial["holds_innovative"] is False
    assert provincial["outcome"] == "fail"
    assert "holds_innovative" in [entry["code"] for entry in provincial["unmet"]]


def test_re_review_and_the_holds_flags_come_from_the_titles(client: TestClient, admin: Caller) -> None:
    uscc = make_uscc("410106", 45)
    enroll(client, admin, uscc, on="2025-01-10")
    fire(client, admin, uscc, "recognize_innovative", "2025-02-01")
    put(client, admin, uscc, 2025, WORKED)
    default = client.get(f"{ENT}/{uscc}/eligibility", headers=admin.headers).json()
    assert (default["tier"], default["holds_innovative"], default["re_review"]) == ("provincial", True, False)
    again = client.get(f"{ENT}/{uscc}/eligibility", params={"tier": "innovative"}, headers=admin.headers).json()
    assert again["re_review"] is True


def test_bad_parameters_and_other_jurisdictions(client: TestClient, admin: Caller, sanmenxia: Caller) -> None:
    uscc = make_uscc("410106", 46)
    enroll(client, admin, uscc)
    assert_problem(client.get(f"{ENT}/{uscc}/eligibility", params={"rulebook": "miit-1999"},
                              headers=admin.headers), 422, "validation-error")
    assert_problem(client.get(f"{ENT}/{uscc}/eligibility", params={"tier": "galactic"}, headers=admin.headers),
                   422, "validation-error")
    assert_problem(client.get(f"{ENT}/{uscc}/eligibility", headers=sanmenxia.headers), 404, "not-found")
