"""POST /api/v1/enterprises: enrolment, its headers, and every way it is refused."""

from __future__ import annotations

from api_support import BASE, SANMENXIA, Caller, assert_problem, enroll, event_count, firm_count, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker


def test_enrol_returns_201_with_location_etag_and_the_firm(client: TestClient, district: Caller) -> None:
    uscc = make_uscc("410106", 1)
    response = client.post(BASE, headers=district.headers, json={
        "uscc": uscc, "name": "郑州上街精密制造有限公司", "effective_date": "2025-03-01", "reason": "摸底纳入"})
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE}/{uscc}"
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert body["uscc"] == uscc
    assert body["region_code"] == "410106"  # from characters 3–8
    assert body["state"] == "reserve"
    assert body["state_label"] == "后备清单"
    assert body["version"] == 1
    assert body["recognitions"] == []
    reread = client.get(response.headers["location"], headers=district.headers).json()
    assert reread["name"] == "郑州上街精密制造有限公司"


def test_lower_case_and_full_width_codes_are_normalised(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 2)
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in uscc.lower())
    response = client.post(BASE, headers=city.headers, json={"uscc": full_width, "name": "全角企业"})
    assert response.status_code == 201, response.text
    assert response.json()["uscc"] == uscc


def test_existing_uscc_is_409_already_exists_and_writes_nothing(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 3)
    enroll(client, city, uscc)
    body = assert_problem(client.post(BASE, headers=city.headers, json={"uscc": uscc, "name": "再来一次"}),
                          409, "already-exists")
    assert uscc in body["detail"]
    assert event_count(api_sessions, uscc) == 1


def test_bad_check_character_is_422_invalid_uscc_naming_the_expected_character(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    good = make_uscc("410106", 4)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    body = assert_problem(client.post(BASE, headers=city.headers, json={"uscc": bad, "name": "x"}),
                          422, "invalid-uscc")
    assert f"'{good[17]}'" in body["detail"]
    assert body["expected_check_character"] == good[17]
    assert body["errors"][0]["field"] == "uscc"
    assert firm_count(api_sessions) == 0


def test_wrong_length_and_bad_character_are_explained(client: TestClient, city: Caller) -> None:
    short = assert_problem(client.post(BASE, headers=city.headers, json={"uscc": "9141010600000", "name": "x"}),
                           422, "invalid-uscc")
    assert "18" in short["detail"]
    letter = assert_problem(client.post(BASE, headers=city.headers, json={"uscc": "9X4101060000000017", "name": "x"}),
                            422, "invalid-uscc")
    assert "character 2" in letter["detail"]


def test_missing_and_malformed_fields_are_422_validation_error_listing_each(client: TestClient, city: Caller) -> None:
    response = client.post(BASE, headers=city.headers, json={"name": "", "effective_date": "01/03/2025",
                                                             "colour": "red"})
    body = assert_problem(response, 422, "validation-error")
    fields = {error["field"] for error in body["errors"]}
    assert {"uscc", "name", "effective_date", "colour"} <= fields


def test_malformed_json_is_a_validation_error(client: TestClient, city: Caller) -> None:
    response = client.post(BASE, headers={**city.headers, "Content-Type": "application/json"}, content=b"{not json")
    assert_problem(response, 422, "validation-error")


def test_unknown_region_code_is_422_invalid_region(client: TestClient, city: Caller) -> None:
    response = client.post(BASE, headers=city.headers, json={"uscc": make_uscc("410106", 5), "name": "x",
                                                             "region_code": "419999"})
    assert_problem(response, 422, "invalid-region")


def test_future_effective_date_is_guard_failed(client: TestClient, city: Caller,
                                               api_sessions: sessionmaker[Session]) -> None:
    response = client.post(BASE, headers=city.headers, json={"uscc": make_uscc("410106", 6), "name": "x",
                                                             "effective_date": "2999-01-01"})
    body = assert_problem(response, 409, "guard-failed")
    assert body["guard"] == "effective_date_not_in_future"
    assert firm_count(api_sessions) == 0


def test_enrolling_outside_the_jurisdiction_is_404(client: TestClient, city: Caller,
                                                   api_sessions: sessionmaker[Session]) -> None:
    response = client.post(BASE, headers=city.headers, json={"uscc": make_uscc(SANMENXIA, 7), "name": "三门峡企业"})
    assert_problem(response, 404, "not-found")
    assert firm_count(api_sessions) == 0


def test_auditor_cannot_enrol(client: TestClient, auditor: Caller, api_sessions: sessionmaker[Session]) -> None:
    response = client.post(BASE, headers=auditor.headers, json={"uscc": make_uscc("410106", 8), "name": "x"})
    body = assert_problem(response, 403, "forbidden")
    assert "auditor" in body["detail"]
    assert firm_count(api_sessions) == 0


def test_integrator_may_enrol_because_it_is_granted(client: TestClient, integrator: Caller) -> None:
    response = enroll(client, integrator, make_uscc(SANMENXIA, 9))
    assert response.json()["state"] == "reserve"
