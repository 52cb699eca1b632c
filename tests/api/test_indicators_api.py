"""PUT/GET of a firm's annual indicators: validation naming the field, amendment events, the annual filing."""

from __future__ import annotations

from api_support import Caller, assert_problem, enroll, event_count, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.dates import business_today

ENT = "/api/v1/enterprises"
FIGURES = {"revenue": 48_000_000, "rd_spend": 1_920_000, "main_business_revenue": 36_000_000, "debt_ratio": 0.6,
           "strategic_emerging_field": True, "certifications": ["management_system"]}


def test_put_stores_the_year_as_an_amendment_and_files_it(client: TestClient, district: Caller,
                                                           api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 31)
    enroll(client, district, uscc)
    today = business_today().isoformat()
    put = client.put(f"{ENT}/{uscc}/indicators/2025", json=FIGURES, headers=district.headers)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["indicators"] == {**FIGURES, "revenue": 48_000_000.0, "rd_spend": 1_920_000.0,
                                  "main_business_revenue": 36_000_000.0}
    assert body["derived"] == {"rd_ratio": 0.04, "main_business_share": 0.75}  # computed, never stored
    assert body["filed_on"] == today
    evidence = body["event"]["evidence"]
    assert body["event"]["kind"] == "amendment"
    assert evidence["indicators"]["year"] == 2025
    assert evidence["indicators"]["changes"]["debt_ratio"] == {"from": None, "to": 0.6}
    assert evidence["annual_filing"] == {"year": 2025, "filed_on": today, "deadline": "2026-05-31",
                                         "on_time": False}
    assert event_count(api_sessions, uscc) == 2

    same = client.put(f"{ENT}/{uscc}/indicators/2025", json=FIGURES, headers=district.headers)
    assert same.json()["event"] is None
    assert same.json()["changes"] == {}
    assert event_count(api_sessions, uscc) == 2

    replaced = client.put(f"{ENT}/{uscc}/indicators/2025", json={**FIGURES, "debt_ratio": 0.7, "rd_spend": None},
                          headers=district.headers).json()
    assert replaced["changes"] == {"debt_ratio": {"from": 0.6, "to": 0.7}, "rd_spend": {"from": 1_920_000.0,
                                                                                          "to": None}}
    assert "annual_filing" not in replaced["event"]["evidence"]
    assert "rd_ratio" not in replaced["derived"]  # unknown spend: the ratio is unknown too, not zero

    got = client.get(f"{ENT}/{uscc}/indicators/2025", headers=district.headers)
    assert got.status_code == 200
    assert got.json()["indicators"]["debt_ratio"] == 0.7
    assert "rd_spend" not in got.json()["indicators"]
    years = client.get(f"{ENT}/{uscc}/indicators", headers=district.headers).json()
    assert [item["year"] for item in years["items"]] == [2025]
    assert_problem(client.get(f"{ENT}/{uscc}/indicators/2024", headers=district.headers), 404, "not-found")


def test_an_earlier_filing_keeps_its_date(client: TestClient, admin: Caller) -> None:
    uscc = make_uscc("410106", 32)
    enroll(client, admin, uscc)
    assert client.put(f"{ENT}/{uscc}/filings/2025", json={"filed_on": "2026-04-20"},
                      headers=admin.headers).status_code == 200
    put = client.put(f"{ENT}/{uscc}/indicators/2025", json={"revenue": 1}, headers=admin.headers).json()
    assert put["filed_on"] == "2026-04-20"
    assert "annual_filing" not in put["event"]["evidence"]


def test_refusals_name_the_field(client: TestClient, district: Caller) -> None:
    uscc = make_uscc("410106", 33)
    enroll(client, district, uscc)

    def refused(values: object, year: int = 2025) -> str:
        body = assert_problem(client.put(f"{ENT}/{uscc}/indicators/{year}", json=values, headers=district.headers),
                              422, "validation-error")
        return str(body["errors"][0]["field"]) + " | " + body["detail"]

    assert refused({"main_business_share": 5}).startswith("main_business_share | ")  # ratios are decimals
    assert "5% = 0.05" in refused({"rd_staff_share": 30})
    assert refused({"revenue": -1}).startswith("revenue | ")
    assert refused({"ip_class1_count": 1.5}).startswith("ip_class1_count | ")
    unknown = refused({"revenu": 1})
    assert unknown.startswith("revenu | ")
    assert "known indicators: " in unknown
    assert "revenue" in unknown
    assert refused({"rd_institution_level": "galactic"}).startswith("rd_institution_level | ")
    assert refused({"revenue": 10**400}).startswith("revenue | ")
    assert refused({"revenue": 1}, year=business_today().year).startswith("year | ")  # this year's data: not yet
    assert refused({}).startswith("indicators | ")


def test_writes_need_the_amend_permission_and_the_jurisdiction(client: TestClient, admin: Caller, auditor: Caller,
                                                               sanmenxia: Caller) -> None:
    uscc = make_uscc("410106", 34)
    enroll(client, admin, uscc)
    assert_problem(client.put(f"{ENT}/{uscc}/indicators/2025", json={"revenue": 1}, headers=auditor.headers),
                   403, "forbidden")
    assert_problem(client.put(f"{ENT}/{uscc}/indicators/2025", json={"revenue": 1}, headers=sanmenxia.headers),
                   404, "not-found")
    client.put(f"{ENT}/{uscc}/indicators/2025", json={"revenue": 1}, headers=admin.headers)
    assert_problem(client.get(f"{ENT}/{uscc}/indicators/2025", headers=sanmenxia.headers), 404, "not-found")
    assert client.get(f"{ENT}/{uscc}/indicators/2025", headers=auditor.headers).status_code == 200
