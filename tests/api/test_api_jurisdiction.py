"""Who may see and touch what: region scope (404, never revealing the firm) and rulebook permissions (403)."""

from __future__ import annotations

import pytest
from api_support import (
    BASE,
    SANMENXIA,
    Caller,
    assert_problem,
    enroll,
    event_count,
    fire,
    make_uscc,
    transition_body,
    version_of,
)
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.dates import business_today


@pytest.fixture
def sanmenxia_firm(client: TestClient, sanmenxia: Caller) -> str:
    uscc = make_uscc(SANMENXIA, 1)
    enroll(client, sanmenxia, uscc)
    return uscc


def test_zhengzhou_official_cannot_see_a_sanmenxia_firm(client: TestClient, city: Caller, sanmenxia_firm: str) -> None:
    for path in (f"{BASE}/{sanmenxia_firm}", f"{BASE}/{sanmenxia_firm}/history"):
        body = assert_problem(client.get(path, headers=city.headers), 404, "not-found")
        assert "jurisdiction" in body["detail"]
    absent = assert_problem(client.get(f"{BASE}/{make_uscc(SANMENXIA, 2)}", headers=city.headers), 404, "not-found")
    assert set(absent) == set(assert_problem(client.get(f"{BASE}/{sanmenxia_firm}", headers=city.headers),
                                             404, "not-found"))  # same shape: existence is not revealed
    listing = client.get(BASE, headers=city.headers).json()
    assert sanmenxia_firm not in [item["uscc"] for item in listing["items"]]


def test_zhengzhou_official_cannot_touch_a_sanmenxia_firm(
        client: TestClient, city: Caller, sanmenxia_firm: str, api_sessions: sessionmaker[Session]) -> None:
    transition = client.post(f"{BASE}/{sanmenxia_firm}/transitions", headers=city.headers,
                             json=transition_body("recognize_innovative", "2025-02-01"))
    assert_problem(transition, 404, "not-found")
    patch = client.patch(f"{BASE}/{sanmenxia_firm}", headers=city.headers, json={"name": "改名"})
    assert_problem(patch, 404, "not-found")
    assert event_count(api_sessions, sanmenxia_firm) == 1
    assert version_of(api_sessions, sanmenxia_firm) == 1


def test_province_official_sees_and_acts_across_cities(client: TestClient, province: Caller, city: Caller,
                                                       sanmenxia_firm: str) -> None:
    zhengzhou_firm = make_uscc("410106", 3)
    enroll(client, city, zhengzhou_firm)
    listed = {item["uscc"] for item in client.get(BASE, headers=province.headers).json()["items"]}
    assert listed == {zhengzhou_firm, sanmenxia_firm}
    fire(client, province, sanmenxia_firm, "recognize_innovative", "2025-02-01")


def test_district_official_sees_only_the_district(client: TestClient, district: Caller, city: Caller) -> None:
    inside, elsewhere = make_uscc("410106", 4), make_uscc("410102", 5)  # 上街区 / 中原区, both in 郑州
    enroll(client, city, inside)
    enroll(client, city, elsewhere)
    assert [item["uscc"] for item in client.get(BASE, headers=district.headers).json()["items"]] == [inside]
    assert_problem(client.get(f"{BASE}/{elsewhere}", headers=district.headers), 404, "not-found")


def test_district_official_cannot_record_a_recognition(
        client: TestClient, district: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 6)
    enroll(client, district, uscc)
    response = client.post(f"{BASE}/{uscc}/transitions", headers=district.headers,
                           json=transition_body("recognize_innovative", "2025-02-01"))
    body = assert_problem(response, 403, "forbidden")
    assert body["rule"].endswith(":permissions.recognize_innovative")
    assert "official:district" in body["detail"]
    assert event_count(api_sessions, uscc) == 1
    # … but may do what the rulebook gives districts: edit and remove
    assert client.patch(f"{BASE}/{uscc}", headers=district.headers, json={"name": "新名称"}).status_code == 200
    fire(client, district, uscc, "remove", business_today().isoformat())  # the edit is dated today


def test_auditor_reads_but_never_writes(client: TestClient, auditor: Caller, city: Caller,
                                        api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 7)
    enroll(client, city, uscc)
    assert client.get(f"{BASE}/{uscc}", headers=auditor.headers).status_code == 200
    assert client.get(f"{BASE}/{uscc}/history", headers=auditor.headers).status_code == 200
    for trigger in ("recognize_innovative", "remove", "revoke"):
        response = client.post(f"{BASE}/{uscc}/transitions", headers=auditor.headers,
                               json=transition_body(trigger, "2025-02-01"))
        assert "auditors never write" in assert_problem(response, 403, "forbidden")["detail"]
    assert_problem(client.patch(f"{BASE}/{uscc}", headers=auditor.headers, json={"name": "x"}), 403, "forbidden")
    assert event_count(api_sessions, uscc) == 1
    detail = client.get(f"{BASE}/{uscc}", headers=auditor.headers).json()
    assert not any(option["allowed"] for option in detail["allowed_triggers"])


def test_integrator_writes_only_its_grants(client: TestClient, integrator: Caller,
                                           api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc(SANMENXIA, 8)
    enroll(client, integrator, uscc)
    response = client.post(f"{BASE}/{uscc}/transitions", headers=integrator.headers,
                           json=transition_body("recognize_innovative", "2025-02-01"))
    body = assert_problem(response, 403, "forbidden")
    assert "granted: enroll" in body["detail"]
    assert_problem(client.patch(f"{BASE}/{uscc}", headers=integrator.headers, json={"name": "x"}), 403, "forbidden")
    assert event_count(api_sessions, uscc) == 1
