"""Correction 1: removing a titled firm needs the right to recognise its highest title and a document number;
the removal reason decides whether titles end (注销 ends them, relocation does not); a relocated firm drops out
of every roster and count, and enrolling it again gives back its highest title still valid."""

from __future__ import annotations

from api_support import BASE, Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient

DOC = {"document_no": "郑工信〔2025〕5号"}


def national(client: TestClient, caller: Caller, uscc: str) -> None:
    enroll(client, caller, uscc, on="2024-01-10")
    fire(client, caller, uscc, "recognize_innovative", "2024-02-01")
    fire(client, caller, uscc, "recognize_provincial", "2024-03-01")
    fire(client, caller, uscc, "recognize_national", "2024-07-01")


def test_a_district_may_not_remove_a_little_giant(client: TestClient, city: Caller, district: Caller) -> None:
    uscc = make_uscc("410106", 101)
    national(client, city, uscc)
    refused = fire(client, district, uscc, "remove", "2025-03-01", expect=403, reason_code="relocated", evidence=DOC)
    body = assert_problem(refused, 403, "forbidden")
    assert body["rule"] == "miit-2022:permissions.recognize_national"
    options = client.get(f"{BASE}/{uscc}", headers=district.headers).json()["allowed_triggers"]
    remove = next(option for option in options if option["trigger"] == "remove")
    assert remove["allowed"] is False
    assert "recognize_national" in " ".join(remove["reasons"])
    reserve = make_uscc("410106", 102)
    enroll(client, district, reserve)
    fire(client, district, reserve, "remove", "2025-03-01", reason_code="relocated", evidence=None)  # untitled


def test_removing_a_titled_firm_needs_a_document_number(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 103)
    national(client, city, uscc)
    body = assert_problem(fire(client, city, uscc, "remove", "2025-03-01", expect=409, reason_code="deregistered",
                               evidence=None), 409, "guard-failed")
    assert body["guard"] == "decision_evidence_required"


def test_deregistration_ends_the_titles(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 104)
    national(client, city, uscc)
    removed = fire(client, city, uscc, "remove", "2025-03-01", reason_code="deregistered", evidence=DOC).json()
    assert sorted(removed["event"]["evidence"]["ended_titles"]) == ["innovative", "national", "provincial"]
    assert {t["ended_on"] for t in removed["enterprise"]["recognitions"]} == {"2025-03-01"}


def test_a_relocated_firm_keeps_its_titles_outside_every_roster_until_enrolled_again(
        client: TestClient, city: Caller, admin: Caller) -> None:
    uscc = make_uscc("410106", 105)
    national(client, city, uscc)
    removed = fire(client, city, uscc, "remove", "2025-03-01", reason_code="relocated", evidence=DOC).json()
    assert removed["event"]["evidence"]["ended_titles"] == []
    assert removed["enterprise"]["state"] == "removed"
    assert {t["ended_on"] for t in removed["enterprise"]["recognitions"]} == {None}

    def roster(on: str) -> list[str]:
        body = client.get("/api/v1/roster", params={"as_of": on}, headers=admin.headers).json()
        return [item["uscc"] for item in body["items"]]

    def national_count(on: str) -> int | None:
        rows = client.get("/api/v1/reports/counts", params={"as_of": on}, headers=admin.headers).json()["levels"]
        return next(r for r in rows if r["level"] == "province")["titles"].get("national")

    assert roster("2025-02-01") == [uscc]  # before the move it was in the roster
    assert roster("2025-04-01") == []
    assert national_count("2025-04-01") is None
    back = fire(client, city, uscc, "enroll", "2025-06-01", reason="迁回郑州").json()
    assert (back["event"]["from_state"], back["enterprise"]["state"]) == ("removed", "national")
    assert roster("2025-07-01") == [uscc]
    assert national_count("2025-07-01") == 1
    report = client.get("/api/v1/audit/verify", params={"uscc": uscc}, headers=admin.headers).json()
    assert report["ok"], report


def test_a_move_within_the_province_is_an_amendment_by_an_official_covering_both(
        client: TestClient, city: Caller, province: Caller) -> None:
    uscc = make_uscc("410106", 106)
    national(client, city, uscc)
    out_of_city = client.patch(f"{BASE}/{uscc}", json={"region_code": "411200"}, headers=city.headers)
    assert assert_problem(out_of_city, 409, "guard-failed")["guard"] == "region_within_jurisdiction"
    moved = client.patch(f"{BASE}/{uscc}", json={"region_code": "411200"}, headers=province.headers)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["region_code"], moved.json()["state"]) == ("411200", "national")


def test_a_relocated_firm_is_enrolled_again_where_it_arrives(
        client: TestClient, city: Caller, sanmenxia: Caller) -> None:
    moved, closed = make_uscc("410106", 107), make_uscc("410106", 108)
    for uscc in (moved, closed):
        national(client, city, uscc)
    fire(client, city, moved, "remove", "2025-03-01", reason_code="relocated", evidence=DOC)
    fire(client, city, closed, "remove", "2025-03-01", reason_code="deregistered", evidence=DOC)

    wrong_trigger = fire(client, sanmenxia, moved, "recognize_innovative", "2025-04-01", expect=422,
                         region_code="411202")
    assert assert_problem(wrong_trigger, 422, "validation-error")["errors"][0]["field"] == "region_code"
    outside = fire(client, sanmenxia, moved, "enroll", "2025-04-01", expect=409, region_code="410106")
    assert assert_problem(outside, 409, "guard-failed")["guard"] == "region_within_jurisdiction"
    assert_problem(fire(client, sanmenxia, moved, "enroll", "2025-04-01", expect=404), 404, "not-found")
    # A firm that closed (注销) did not move: no other region can take it.
    assert_problem(fire(client, sanmenxia, closed, "enroll", "2025-04-01", expect=404, region_code="411202"),
                   404, "not-found")

    arrived = fire(client, sanmenxia, moved, "enroll", "2025-04-01", region_code="411202", reason="迁入湖滨区").json()
    assert (arrived["enterprise"]["state"], arrived["enterprise"]["region_code"]) == ("national", "411202")
    assert arrived["event"]["evidence"]["region_code"] == {"from": "410106", "to": "411202"}
    assert client.get(f"{BASE}/{moved}", headers=city.headers).status_code == 404
    roster = client.get("/api/v1/roster", params={"as_of": "2025-05-01"}, headers=sanmenxia.headers).json()
    assert [item["uscc"] for item in roster["items"]] == [moved]
