"""Policy packs: the seeds' awards as data, versioned; officials fill what the seeds leave open."""

from __future__ import annotations

from api_support import Caller, assert_problem
from fastapi.testclient import TestClient


def _packs(client: TestClient, caller: Caller) -> dict[str, dict]:  # type: ignore[type-arg]
    response = client.get("/api/v1/policies", headers=caller.headers)
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def test_the_four_seed_packs_list_their_amounts_windows_and_stacking(client: TestClient,
                                                                      principals: dict[str, Caller]) -> None:
    packs = _packs(client, principals["auditor"])
    zz = packs["zhengzhou-2022-36"]
    assert (zz["document_no"], zz["jurisdiction"], zz["level"], zz["in_force_from"], zz["in_force_until"]) == (
        "郑政办〔2022〕36号", "410100", "city", "2022-04-12", None)
    assert {a["id"]: a["amount"] for a in zz["awards"]} == {
        "national": 2_000_000, "provincial": 500_000, "champion_enterprise": 5_000_000, "champion_product": 1_000_000}
    assert (zz["first_only"], zz["stacking_group"], zz["mode"]) == (True, "zhengzhou", "top_up")
    zh = packs["zhanhe-2022-8"]
    assert {a["id"]: a["amount"] for a in zh["awards"]} == {"national": 500_000, "provincial": 200_000}
    assert zh["awards"][0]["payers"] == [{"region_code": "410400", "percent": 50},
                                         {"region_code": "410411", "percent": 50}]
    assert (zh["mode"], zh["in_force_from"], zh["jurisdiction"]) == ("full", "2022-06-05", "410411")
    sj = packs["shangjie-2023-3"]
    assert (sj["stacking_group"], sj["in_force_from"]) == ("zhengzhou", "2023-02-09")
    assert all(a["amount"] is None for a in sj["awards"])
    smx = packs["sanmenxia-2022-8"]
    assert (smx["in_force_from"], smx["in_force_until"]) == ("2022-04-22", "2025-12-31")
    matching = next(a for a in smx["awards"] if a["side_title_kind"] == "key_little_giant")
    assert (matching["ratio"], matching["payers"][0]["region_code"]) == (1.0, "firm_county")
    assert any("待官员录入" in note or "left to be entered" in note for note in smx["notes"])
    assert all(len(p["content_hash"]) == 64 for p in packs.values())
    assert all(p["version"] == 1 for p in packs.values())


def test_setting_an_amount_makes_a_new_version_with_its_own_hash(client: TestClient,
                                                                 principals: dict[str, Caller]) -> None:
    before = _packs(client, principals["auditor"])["sanmenxia-2022-8"]
    response = client.put("/api/v1/policies/sanmenxia-2022-8/awards/national", json={"amount": 1_000_000},
                          headers=principals["sanmenxia"].headers)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["version"] == 2
    assert after["content_hash"] != before["content_hash"]
    assert next(a for a in after["awards"] if a["id"] == "national")["amount"] == 1_000_000
    assert client.get("/api/v1/policies/sanmenxia-2022-8", headers=principals["auditor"].headers).json() == after


def test_only_the_province_or_the_packs_own_level_may_change_it(client: TestClient,
                                                                principals: dict[str, Caller]) -> None:
    url = "/api/v1/policies/zhengzhou-2022-36"
    assert_problem(client.put(url, json={"in_force_until": "2026-12-31"}, headers=principals["district"].headers),
                   403, "forbidden")
    assert_problem(client.put(url, json={"in_force_until": "2026-12-31"}, headers=principals["sanmenxia"].headers),
                   403, "forbidden")
    assert_problem(client.put(url, json={"in_force_until": "2026-12-31"}, headers=principals["auditor"].headers),
                   403, "forbidden")
    response = client.put(url, json={"in_force_until": "2026-12-31"}, headers=principals["province"].headers)
    assert response.status_code == 200, response.text
    assert (response.json()["in_force_until"], response.json()["version"]) == ("2026-12-31", 2)
    assert_problem(client.put(f"{url}/awards/nope", json={"amount": 1}, headers=principals["city"].headers),
                   404, "not-found")
    assert_problem(client.get("/api/v1/policies/nope", headers=principals["city"].headers), 404, "not-found")
