"""GET /api/v1/enterprises: filters (state, region prefix, expiring_before, q), limit, cursor pagination."""

from __future__ import annotations

import pytest
from api_support import BASE, SANMENXIA, Caller, assert_problem, enroll, fire, make_uscc
from fastapi.testclient import TestClient


def usccs(client: TestClient, caller: Caller, **params: str | int) -> list[str]:
    response = client.get(BASE, headers=caller.headers, params=params)
    assert response.status_code == 200, response.text
    return [item["uscc"] for item in response.json()["items"]]


@pytest.fixture
def firms(client: TestClient, province: Caller) -> dict[str, str]:
    named = {
        "shangjie": make_uscc("410106", 1),     # 上街区, 郑州
        "zhongyuan": make_uscc("410102", 2),    # 中原区, 郑州
        "sanmenxia": make_uscc(SANMENXIA, 3),  # 三门峡
        "zhanhe": make_uscc("410411", 4),       # 湛河区, 平顶山
    }
    names = {"shangjie": "上街精密制造有限公司", "zhongyuan": "中原100%_新材料有限公司",
             "sanmenxia": "三门峡精密仪器有限公司", "zhanhe": "湛河化工有限公司"}
    for key, uscc in named.items():
        enroll(client, province, uscc, on="2022-09-01", name=names[key])
    fire(client, province, named["shangjie"], "recognize_innovative", "2022-09-01")  # valid until 2025-08-31
    fire(client, province, named["sanmenxia"], "recognize_innovative", "2024-01-01")  # valid until 2026-12-31
    return named


def test_region_matches_province_city_and_district_prefixes(client: TestClient, province: Caller,
                                                            firms: dict[str, str]) -> None:
    assert set(usccs(client, province, region="41")) == set(firms.values())
    assert set(usccs(client, province, region="4101")) == {firms["shangjie"], firms["zhongyuan"]}
    assert set(usccs(client, province, region="410100")) == {firms["shangjie"], firms["zhongyuan"]}
    assert usccs(client, province, region="410106") == [firms["shangjie"]]
    assert usccs(client, province, region="4112") == [firms["sanmenxia"]]
    assert usccs(client, province, region="42") == []
    assert_problem(client.get(BASE, headers=province.headers, params={"region": "410"}), 422, "validation-error")
    assert_problem(client.get(BASE, headers=province.headers, params={"region": "419999"}), 422, "invalid-region")


def test_region_filter_never_widens_the_jurisdiction(client: TestClient, city: Caller, firms: dict[str, str]) -> None:
    assert set(usccs(client, city, region="41")) == {firms["shangjie"], firms["zhongyuan"]}
    assert usccs(client, city, region="4112") == []


def test_state_filter(client: TestClient, province: Caller, firms: dict[str, str]) -> None:
    assert set(usccs(client, province, state="innovative")) == {firms["shangjie"], firms["sanmenxia"]}
    assert set(usccs(client, province, state="reserve")) == {firms["zhongyuan"], firms["zhanhe"]}
    body = assert_problem(client.get(BASE, headers=province.headers, params={"state": "giant"}), 422,
                          "validation-error")
    assert body["errors"][0]["field"] == "state"


def test_expiring_before(client: TestClient, province: Caller, firms: dict[str, str]) -> None:
    assert usccs(client, province, expiring_before="2025-09-01") == [firms["shangjie"]]
    assert set(usccs(client, province, expiring_before="2027-01-01")) == {firms["shangjie"], firms["sanmenxia"]}
    assert usccs(client, province, expiring_before="2025-08-31") == []
    assert_problem(client.get(BASE, headers=province.headers, params={"expiring_before": "0"}), 422,
                   "validation-error")


def test_q_searches_names_and_code_prefixes_literally(client: TestClient, province: Caller,
                                                      firms: dict[str, str]) -> None:
    assert set(usccs(client, province, q="精密")) == {firms["shangjie"], firms["sanmenxia"]}
    assert usccs(client, province, q="100%_") == [firms["zhongyuan"]]  # % and _ are not wildcards
    assert usccs(client, province, q="%") == [firms["zhongyuan"]]
    assert usccs(client, province, q=firms["zhanhe"][:10]) == [firms["zhanhe"]]
    assert_problem(client.get(BASE, headers=province.headers, params={"q": "a\x00b"}), 422, "validation-error")


def test_filters_combine(client: TestClient, province: Caller, firms: dict[str, str]) -> None:
    assert usccs(client, province, state="innovative", region="4101", q="精密") == [firms["shangjie"]]


def test_limit_bounds_and_unknown_parameters(client: TestClient, province: Caller) -> None:
    assert client.get(BASE, headers=province.headers, params={"limit": 500}).status_code == 200
    for limit in (0, 501):
        body = assert_problem(client.get(BASE, headers=province.headers, params={"limit": limit}), 422,
                              "validation-error")
        assert body["errors"][0]["field"] == "limit"
    body = assert_problem(client.get(BASE, headers=province.headers, params={"sate": "reserve"}), 422,
                          "validation-error")
    assert body["errors"] == [{"field": "sate", "message": "unknown query parameter"}]


def test_cursor_pagination_is_stable_under_inserts_between_pages(client: TestClient, province: Caller) -> None:
    first_batch = [make_uscc("410106", n) for n in range(10, 17)]
    for uscc in first_batch:
        enroll(client, province, uscc)
    seen: list[str] = []
    page = client.get(BASE, headers=province.headers, params={"limit": 3}).json()
    seen += [item["uscc"] for item in page["items"]]
    inserted = [make_uscc("410106", n) for n in range(20, 24)]
    for uscc in inserted:  # new firms arrive while a client pages
        enroll(client, province, uscc)
    while page["next_cursor"]:
        page = client.get(BASE, headers=province.headers, params={"limit": 3, "cursor": page["next_cursor"]}).json()
        assert len(page["items"]) <= 3
        seen += [item["uscc"] for item in page["items"]]
    assert len(seen) == len(set(seen))  # nothing twice
    assert seen[:len(first_batch)] == first_batch  # nothing skipped, in a stable order
    assert set(seen) == set(first_batch) | set(inserted)


def test_a_forged_cursor_is_a_validation_error(client: TestClient, province: Caller) -> None:
    for cursor in ("not-a-cursor", "eyJhZnRlciI6IDFlMzAwfQ", "eyJhZnRlciI6IDEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwfQ"):
        body = assert_problem(client.get(BASE, headers=province.headers, params={"cursor": cursor}), 422,
                              "validation-error")
        assert body["errors"][0]["field"] == "cursor"
