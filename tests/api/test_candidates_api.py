"""The 后备清单: who is listed (pass or nearly pass, one tier below, in the jurisdiction), in what order, and
the audited pin / drop / clear marks."""

from __future__ import annotations

from typing import Any

from api_support import Caller, assert_problem, enroll, event_count, fire, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from test_eligibility_api import WORKED, put

from pipeline.access import Actor
from pipeline.db import unit_of_work
from pipeline.models import Enterprise
from pipeline.screening.candidates import candidates

CANDIDATES = "/api/v1/candidates"
PASSES = WORKED  # 75 points
NEAR = {**WORKED, "main_business_share": 0.52, "revenue_growth": 0.04}  # 55 points, growth 10 < 15: 5 short
FAR = {**WORKED, "is_sme": False, "revenue_growth": -0.1, "debt_ratio": 0.9}  # not an SME and 40 points
OPEN = {key: value for key, value in WORKED.items() if key != "revenue_growth"}  # outcome open, nothing failed


def listing(client: TestClient, caller: Caller, **params: Any) -> dict[str, Any]:
    response = client.get(CANDIDATES, params={"tier": "innovative", **params}, headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def usccs(body: dict[str, Any]) -> list[str]:
    return [item["uscc"] for item in body["items"]]


def pool(client: TestClient, admin: Caller) -> dict[str, str]:
    firms = {name: make_uscc("410106", n) for n, name in enumerate(("passes", "near", "far", "open", "bare"), 50)}
    firms["other_city"] = make_uscc("411200", 60)
    firms["titled"] = make_uscc("410106", 61)
    for uscc in firms.values():
        enroll(client, admin, uscc, on="2025-01-10")
    for name, values in (("passes", PASSES), ("near", NEAR), ("far", FAR), ("open", OPEN), ("other_city", PASSES),
                         ("titled", PASSES)):
        put(client, admin, firms[name], 2025, values)
    fire(client, admin, firms["titled"], "recognize_innovative", "2025-02-01")  # no longer on the reserve list
    return firms


def test_the_list_ranks_passes_then_near_misses_within_the_jurisdiction(client: TestClient, admin: Caller,
                                                                         city: Caller) -> None:
    firms = pool(client, admin)
    body = listing(client, city)
    assert usccs(body) == [firms["passes"], firms["open"], firms["near"]]
    assert (body["list_state"], body["screened"], body["total"], body["passed"], body["unknown"]) == (
        "reserve", 4, 3, 1, 1)  # judged: passes, near, far, open — bare has no data, 三门峡 is out of scope
    passes, open_, near = body["items"]
    assert (passes["outcome"], passes["total_points"], passes["gap"]["rank_key"]) == ("pass", 75, [0, 0, 0])
    assert (open_["outcome"], open_["missing"], open_["gap"]["unknown"]) == ("unknown", ["revenue_growth"],
                                                                            ["score"])
    assert (near["outcome"], near["total_points"], near["gap"]["points"]) == ("fail", 55, 5)
    assert near["category_points"] == {"innovation": 30, "growth": 10, "specialisation": 15}

    assert firms["other_city"] in usccs(listing(client, admin))  # the province-wide view sees 三门峡 too
    assert usccs(listing(client, admin, region="411200")) == [firms["other_city"]]
    assert usccs(listing(client, city, region="411200")) == []  # outside the caller's jurisdiction: nothing
    assert firms["far"] in usccs(listing(client, city, max_conditions=1, max_points=40))

    first = listing(client, city, limit=2)
    assert usccs(first) == [firms["passes"], firms["open"]]
    assert first["next_cursor"]
    second = listing(client, city, limit=2, cursor=first["next_cursor"])
    assert usccs(second) == [firms["near"]]
    assert second["next_cursor"] is None
    assert_problem(client.get(CANDIDATES, params={"tier": "innovative", "cursor": "nonsense"},
                              headers=city.headers), 422, "validation-error")


def test_the_provincial_list_draws_on_innovative_firms_holding_a_valid_title(client: TestClient,
                                                                            admin: Caller) -> None:
    firms = pool(client, admin)
    body = listing(client, admin, tier="provincial", max_conditions=50, max_points=100)
    assert body["list_state"] == "innovative"
    assert usccs(body) == [firms["titled"]]


def test_pin_and_drop_are_audited_and_shape_the_list(client: TestClient, admin: Caller, district: Caller,
                                                     auditor: Caller, api_sessions: sessionmaker[Session]) -> None:
    firms = pool(client, admin)
    with unit_of_work(api_sessions) as session:  # another feature's flag must survive our marks
        firm = session.scalars(select(Enterprise).where(Enterprise.uscc == firms["far"])).one()
        firm.flags = {"annual_data_overdue": {"year": 2024}}
    before = event_count(api_sessions, firms["far"])

    pin = client.post(f"{CANDIDATES}/innovative/marks", headers=district.headers,
                      json={"uscc": firms["far"], "action": "pin", "reason": "产业链关键环节，重点培育"})
    assert pin.status_code == 200, pin.text
    assert pin.json()["event"]["evidence"]["candidate_mark"] == {
        "tier": "innovative", "action": "pin", "reason": "产业链关键环节，重点培育", "previous": None}
    assert set(pin.json()["flags"]) == {"annual_data_overdue", "candidates"}
    assert event_count(api_sessions, firms["far"]) == before + 1
    drop = client.post(f"{CANDIDATES}/innovative/marks", headers=district.headers,
                       json={"uscc": firms["passes"], "action": "drop", "reason": "拟迁出辖区"})
    assert drop.status_code == 200, drop.text

    body = listing(client, district)
    assert usccs(body) == [firms["far"], firms["open"], firms["near"]]  # pinned first, whatever its result
    assert body["items"][0]["mark"]["action"] == "pin"
    assert body["items"][0]["outcome"] == "fail"
    shown = usccs(listing(client, district, include_dropped=True))
    assert shown[:2] == [firms["far"], firms["passes"]]

    cleared = client.delete(f"{CANDIDATES}/innovative/marks/{firms['passes']}", headers=district.headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["event"]["evidence"]["candidate_mark"]["previous"]["action"] == "drop"
    assert firms["passes"] in usccs(listing(client, district))
    assert_problem(client.delete(f"{CANDIDATES}/innovative/marks/{firms['passes']}", headers=district.headers),
                   404, "not-found")

    assert_problem(client.post(f"{CANDIDATES}/innovative/marks", headers=auditor.headers,
                               json={"uscc": firms["near"], "action": "pin", "reason": "x"}), 403, "forbidden")
    assert_problem(client.post(f"{CANDIDATES}/innovative/marks", headers=district.headers,
                               json={"uscc": firms["near"], "action": "pin"}), 422, "validation-error")
    assert_problem(client.post(f"{CANDIDATES}/innovative/marks", headers=district.headers,  # holds innovative
                               json={"uscc": firms["titled"], "action": "pin", "reason": "x"}), 409, "guard-failed")
    assert_problem(client.post(f"{CANDIDATES}/innovative/marks", headers=district.headers,
                               json={"uscc": firms["other_city"], "action": "pin", "reason": "x"}), 404, "not-found")


def test_the_list_is_the_same_however_the_firms_are_streamed(client: TestClient, admin: Caller,
                                                              api_sessions: sessionmaker[Session]) -> None:
    """On PostgreSQL the next chunk of firms is fetched on a worker thread while this one is judged."""
    pool(client, admin)
    city = Actor(id="zz-city", role="official", level="city", region_code="410100")
    with api_sessions() as session:
        lists = [candidates(session, city, tier="innovative", chunk=chunk) for chunk in (1, 2, 2000)]
    seen = [(listed.screened, [(item.uscc, item.result) for item in listed.items]) for listed in lists]
    assert seen[0] == seen[1] == seen[2]
    assert (lists[0].screened, len(lists[0].items)) == (4, 3)


def test_each_firm_is_judged_on_its_latest_year_with_indicators(client: TestClient, admin: Caller,
                                                                city: Caller) -> None:
    uscc = make_uscc("410106", 70)
    enroll(client, admin, uscc, on="2025-01-10")
    put(client, admin, uscc, 2024, PASSES)
    put(client, admin, uscc, 2023, FAR)  # recorded later, for an earlier year
    (item,) = listing(client, city)["items"]
    assert (item["uscc"], item["year"], item["outcome"]) == (uscc, 2024, "pass")
    assert listing(client, city, year=2023)["items"] == []  # far from passing that year


def test_a_later_year_filed_without_indicators_does_not_hide_the_latest_indicators(
        client: TestClient, admin: Caller, city: Caller, session_factory: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 71)
    enroll(client, admin, uscc, on="2025-01-10")
    put(client, admin, uscc, 2024, PASSES)
    filed = client.put(f"/api/v1/enterprises/{uscc}/filings/2025", json={"filed_on": "2026-04-01"},
                       headers=admin.headers)  # the year's data filed, its indicators not (yet) recorded
    assert filed.status_code == 200, filed.text
    (item,) = listing(client, city)["items"]
    assert (item["uscc"], item["year"], item["outcome"]) == (uscc, 2024, "pass")
    with session_factory() as session:  # no document is SQL NULL, which `IS NULL` finds (not JSON null)
        stored = session.execute(text("SELECT count(*) FROM annual_filings WHERE indicators IS NULL")).scalar()
    assert stored == 1
