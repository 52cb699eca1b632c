"""Side titles in the roster, the exported roster and the counts: `tier=<side-title kind>` as of a date."""

from __future__ import annotations

import csv
import io

from api_support import BASE, Caller, assert_problem, enroll, make_uscc
from fastapi.testclient import TestClient

A, B, FAR = make_uscc("410106", 61), make_uscc("410106", 62), make_uscc("411200", 63)


def _grant(client: TestClient, caller: Caller, uscc: str, kind: str, on: str, **body: str) -> int:
    response = client.post(f"{BASE}/{uscc}/side-titles", headers=caller.headers,
                           json={"kind": kind, "granted_on": on, "document_no": "文〔2025〕1号", **body})
    assert response.status_code == 201, response.text
    return int(response.json()["side_title"]["id"])


def _setup(client: TestClient, admin: Caller) -> None:
    for uscc in (A, B, FAR):
        enroll(client, admin, uscc, on="2024-01-10")
    _grant(client, admin, A, "champion_enterprise", "2024-06-01")
    _grant(client, admin, B, "champion_enterprise", "2025-06-01")
    _grant(client, admin, FAR, "champion_enterprise", "2024-06-01")
    _grant(client, admin, A, "tech_sme", "2025-03-01")


def test_the_roster_lists_the_holders_of_a_side_title_kind_on_a_date(
        client: TestClient, admin: Caller, city: Caller) -> None:
    _setup(client, admin)

    def roster(caller: Caller, **params: str) -> list[tuple[str, str, str]]:
        response = client.get("/api/v1/roster", params=params, headers=caller.headers)
        assert response.status_code == 200, response.text
        return [(i["uscc"], i["highest_tier"], i["titles"][0]["tier_label"]) for i in response.json()["items"]]

    assert roster(admin, tier="champion_enterprise", as_of="2025-01-01") == [
        (A, "champion_enterprise", "制造业单项冠军企业"), (FAR, "champion_enterprise", "制造业单项冠军企业")]
    assert [u for u, _, _ in roster(city, tier="champion_enterprise", as_of="2025-07-01")] == [A, B]
    assert roster(admin, tier="tech_sme", as_of="2026-01-01") == []  # annual: ended with 2025
    known_before = client.get(f"{BASE}/{A}/history", headers=admin.headers).json()["items"][1]["recorded_at"]
    assert [u for u, _, _ in roster(admin, tier="champion_enterprise", as_of="2025-07-01",
                                    known_at=known_before)] == [A]
    assert_problem(client.get("/api/v1/roster", params={"tier": "rising_star"}, headers=admin.headers), 422,
                   "validation-error")
    # A firm that moved away keeps its titles but is in no region's roster, at any known_at.
    moved = client.post(f"{BASE}/{A}/transitions", headers=admin.headers, json={
        "trigger": "remove", "effective_date": "2025-08-01", "reason_code": "relocated"})
    assert moved.status_code == 200, moved.text
    removed_at = moved.json()["event"]["recorded_at"]
    for known in ({}, {"known_at": removed_at}):
        assert [u for u, _, _ in roster(admin, tier="champion_enterprise", as_of="2025-09-01", **known)] == [B, FAR]
        assert [u for u, _, _ in roster(admin, tier="champion_enterprise", as_of="2025-07-01", **known)] == [
            A, B, FAR]


def test_the_exported_roster_takes_a_side_title_kind(client: TestClient, admin: Caller, city: Caller) -> None:
    _setup(client, admin)
    response = client.get("/api/v1/exports/roster", params={"format": "csv", "tier": "champion_enterprise",
                                                            "as_of": "2025-07-01"}, headers=city.headers)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["统一社会信用代码"], r["称号"], r["层级代码"], r["认定日期"], r["有效期至"]) for r in rows] == [
        (A, "制造业单项冠军企业", "champion_enterprise", "2024-06-01", "2027-05-31"),
        (B, "制造业单项冠军企业", "champion_enterprise", "2025-06-01", "2028-05-31")]
    assert_problem(client.get("/api/v1/exports/roster", params={"tier": "rising_star"}, headers=city.headers), 422,
                   "validation-error")


def test_counts_add_side_titles_to_every_region_row(client: TestClient, admin: Caller, city: Caller) -> None:
    _setup(client, admin)
    response = client.get("/api/v1/reports/counts", params={"as_of": "2025-07-01"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    rows = {(r["level"], r["region_code"]): r["side_titles"] for r in response.json()["levels"]}
    assert rows[("province", "410000")] == {"champion_enterprise": 3, "tech_sme": 1}
    assert rows[("district", "410106")] == {"champion_enterprise": 2, "tech_sme": 1}
    assert rows[("city", "411200")] == {"champion_enterprise": 1}
    scoped = client.get("/api/v1/reports/counts", params={"as_of": "2026-01-01"}, headers=city.headers).json()
    assert {r["region_code"]: r["side_titles"] for r in scoped["levels"]}["410100"] == {"champion_enterprise": 2}
