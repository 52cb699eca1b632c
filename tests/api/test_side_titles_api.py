"""Side titles through the API: grant, end, list as of a date; permissions, If-Match, Idempotency-Key,
ordering, voiding, the expiry sweep and verify."""

from __future__ import annotations

from typing import Any

import httpx
from api_support import BASE, Caller, assert_problem, enroll, event_count, fire, make_uscc, version_of
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from pipeline.dates import business_today
from pipeline.models import Enterprise, SideTitle

TODAY = business_today()


def grant(client: TestClient, caller: Caller, uscc: str, kind: str = "high_tech_enterprise", *,
          on: str = "2025-03-01", expect: int = 201, headers: dict[str, str] | None = None,
          **body: Any) -> httpx.Response:
    payload = {"kind": kind, "granted_on": on, "document_no": body.pop("document_no", "豫科〔2025〕7号"), **body}
    response = client.post(f"{BASE}/{uscc}/side-titles", json={k: v for k, v in payload.items() if v is not None},
                           headers={**caller.headers, **(headers or {})})
    assert response.status_code == expect, response.text
    return response


def end(client: TestClient, caller: Caller, uscc: str, title_id: int, on: str, reason_code: str = "revoked_by_issuer",
        ) -> httpx.Response:
    return client.post(f"{BASE}/{uscc}/side-titles/{title_id}/end", headers=caller.headers,
                       json={"ended_on": on, "reason_code": reason_code, "reason": "发证机关取消"})


def listed(client: TestClient, caller: Caller, uscc: str, as_of: str | None = None) -> list[tuple[str, str]]:
    response = client.get(f"{BASE}/{uscc}/side-titles", params={"as_of": as_of} if as_of else {},
                          headers=caller.headers)
    assert response.status_code == 200, response.text
    return [(item["kind"], item["valid_until"]) for item in response.json()["items"]]


def test_a_grant_returns_the_title_and_its_side_title_event(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 1)
    enroll(client, city, uscc)
    fire(client, city, uscc, "recognize_innovative", "2025-02-01")
    response = grant(client, city, uscc, "champion_product", on="2025-03-01", product="高精度数控机床主轴",
                     document_no="工信部产业函〔2025〕301号")
    body = response.json()
    title = body["side_title"]
    assert set(title) == {"id", "kind", "kind_label", "granted_on", "valid_until", "issuer_level", "document_no",
                          "product", "ended_on", "end_reason_code"}
    assert (title["kind"], title["kind_label"], title["granted_on"], title["valid_until"]) == (
        "champion_product", "单项冠军产品", "2025-03-01", "2028-02-29")
    assert (title["issuer_level"], title["product"], title["ended_on"], title["end_reason_code"]) == (
        "national", "高精度数控机床主轴", None, None)
    event = body["event"]
    assert (event["kind"], event["trigger"], event["from_state"], event["to_state"]) == (
        "side_title", "grant_side_title", "innovative", "innovative")
    assert (event["effective_date"], event["actor"], event["evidence"]["document_no"]) == (
        "2025-03-01", city.id, "工信部产业函〔2025〕301号")
    assert response.headers["etag"] == '"3"'


KINDS = [  # kind, label, default issuer level, default validity end for a grant on 2025-03-10
    ("champion_enterprise", "制造业单项冠军企业", "national", "2028-03-09"),
    ("key_little_giant", "重点“小巨人”", "national", "2028-03-09"),
    ("high_tech_enterprise", "高新技术企业", "provincial", "2028-03-09"),
    ("tech_sme", "科技型中小企业", "provincial", "2025-12-31"),
    ("gazelle", "瞪羚企业", "provincial", "2025-12-31"),
    ("unicorn", "独角兽企业", "provincial", "2025-12-31"),
]


def test_each_kind_has_its_label_issuer_level_and_default_validity_from_the_rulebook(
        client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 2)
    enroll(client, city, uscc)
    for kind, label, level, valid_until in KINDS:  # one firm holds any number of side titles
        title = grant(client, city, uscc, kind, on="2025-03-10").json()["side_title"]
        assert (title["kind"], title["kind_label"], title["issuer_level"], title["valid_until"]) == (
            kind, label, level, valid_until)
    assert len(listed(client, city, uscc, "2025-03-10")) == len(KINDS)


def test_a_grant_may_give_its_own_validity_and_issuer_level(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 3)
    enroll(client, city, uscc)
    title = grant(client, city, uscc, "gazelle", valid_until="2027-06-30", issuer_level="city").json()["side_title"]
    assert (title["valid_until"], title["issuer_level"]) == ("2027-06-30", "city")


def test_a_grant_is_refused_with_an_unknown_kind_or_level_or_a_missing_product_or_document(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 4)
    enroll(client, city, uscc)
    assert "champion_enterprise" in assert_problem(grant(client, city, uscc, "rising_star", expect=422), 422,
                                                   "validation-error")["detail"]
    assert_problem(grant(client, city, uscc, "champion_product", expect=422), 422, "validation-error")
    assert_problem(grant(client, city, uscc, issuer_level="county", expect=422), 422, "validation-error")
    assert_problem(grant(client, city, uscc, document_no="  ", expect=409), 409, "guard-failed")
    assert_problem(grant(client, city, uscc, document_no=None, expect=422), 422, "validation-error")
    assert event_count(api_sessions, uscc) == 1


def test_districts_auditors_and_integrators_may_not_grant_or_end(
        client: TestClient, city: Caller, district: Caller, auditor: Caller, integrator: Caller,
        province: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 5)
    enroll(client, city, uscc)
    refused = assert_problem(grant(client, district, uscc, expect=403), 403, "forbidden")
    assert refused["rule"] == "miit-2022:permissions.grant_side_title"
    assert_problem(grant(client, auditor, uscc, expect=403), 403, "forbidden")
    assert_problem(grant(client, integrator, uscc, expect=403), 403, "forbidden")
    title_id = grant(client, province, uscc).json()["side_title"]["id"]
    assert_problem(end(client, district, uscc, title_id, "2025-06-01"), 403, "forbidden")
    assert end(client, province, uscc, title_id, "2025-06-01").status_code == 200
    assert event_count(api_sessions, uscc) == 3


def test_a_firm_outside_the_jurisdiction_is_not_found(client: TestClient, city: Caller, sanmenxia: Caller) -> None:
    uscc = make_uscc("410106", 6)
    enroll(client, city, uscc)
    assert_problem(grant(client, sanmenxia, uscc, expect=404), 404, "not-found")
    assert_problem(client.get(f"{BASE}/{uscc}/side-titles", headers=sanmenxia.headers), 404, "not-found")


def test_a_stale_if_match_is_412_and_a_retried_key_replays_one_event(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 7)
    enroll(client, city, uscc)
    assert_problem(grant(client, city, uscc, headers={"If-Match": '"7"'}, expect=412), 412, "version-mismatch")
    headers = {"Idempotency-Key": "grant-1", "If-Match": '"1"'}
    first = grant(client, city, uscc, headers=headers)
    again = grant(client, city, uscc, headers=headers)
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
    assert event_count(api_sessions, uscc) == 2
    assert version_of(api_sessions, uscc) == 2


def test_side_titles_are_exempt_from_ordering_but_not_before_enroll_nor_in_the_future(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 8)
    enroll(client, city, uscc, on="2024-01-10")
    fire(client, city, uscc, "recognize_innovative", "2025-02-01")
    grant(client, city, uscc, on="2024-06-01")  # keyed in late: before the latest decision
    grant(client, city, uscc, "gazelle", on="2025-05-01")
    fire(client, city, uscc, "recognize_provincial", "2025-03-01")  # the gazelle did not move the latest date
    before_enroll = assert_problem(grant(client, city, uscc, on="2023-12-31", expect=409), 409, "guard-failed")
    assert before_enroll["guard"] == "side_title_not_before_enroll"
    future = TODAY.replace(year=TODAY.year + 1).isoformat()
    assert assert_problem(grant(client, city, uscc, on=future, expect=409), 409,
                          "guard-failed")["guard"] == "effective_date_not_in_future"
    with api_sessions() as session:
        firm = session.query(Enterprise).filter_by(uscc=uscc).one()
        assert firm.last_effective_date.isoformat() == "2025-03-01"


def test_ending_a_title_and_listing_what_is_held_on_a_date(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 9)
    enroll(client, city, uscc)
    title_id = grant(client, city, uscc, on="2025-03-01").json()["side_title"]["id"]
    grant(client, city, uscc, "tech_sme", on="2025-04-01")
    ended = end(client, city, uscc, title_id, "2025-09-01")
    assert ended.status_code == 200, ended.text
    assert (ended.json()["side_title"]["ended_on"], ended.json()["side_title"]["end_reason_code"]) == (
        "2025-09-01", "revoked_by_issuer")
    event = ended.json()["event"]
    assert (event["kind"], event["trigger"], event["reason_code"], event["evidence"]["granted_by_seq"]) == (
        "side_title", "end_side_title", "revoked_by_issuer", 2)
    assert listed(client, city, uscc, "2025-08-31") == [("high_tech_enterprise", "2028-02-29"),
                                                        ("tech_sme", "2025-12-31")]
    assert listed(client, city, uscc, "2025-09-01") == [("tech_sme", "2025-12-31")]
    assert listed(client, city, uscc, "2026-01-01") == []
    assert len(listed(client, city, uscc)) == 2  # without as_of: every title held, ended ones included
    again = end(client, city, uscc, title_id, "2025-09-02")
    assert assert_problem(again, 409, "guard-failed")["guard"] == "side_title_open"
    assert_problem(end(client, city, uscc, title_id + 1, "2025-09-02", "bored"), 409, "guard-failed")
    assert_problem(end(client, city, uscc, 999_999, "2025-09-02"), 404, "not-found")


def test_a_side_title_event_can_be_voided_like_any_latest_event(
        client: TestClient, city: Caller, admin: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 10)
    enroll(client, city, uscc, on="2024-01-10")
    fire(client, city, uscc, "recognize_innovative", "2024-02-01")
    title_id = grant(client, city, uscc, on="2025-03-01").json()["side_title"]["id"]
    voided = client.post(f"{BASE}/{uscc}/events/3/void", json={"reason": "误录"}, headers=city.headers)
    assert voided.status_code == 200, voided.text
    assert listed(client, city, uscc) == []
    fire(client, city, uscc, "recognize_provincial", "2024-06-01")  # the void did not move the latest date
    title_id = grant(client, city, uscc, on="2025-03-01").json()["side_title"]["id"]
    assert end(client, city, uscc, title_id, "2025-04-01").status_code == 200
    assert client.post(f"{BASE}/{uscc}/events/7/void", json={"reason": "误录"},
                       headers=city.headers).status_code == 200
    assert listed(client, city, uscc, "2025-05-01") == [("high_tech_enterprise", "2028-02-29")]
    report = client.get("/api/v1/audit/verify", params={"uscc": uscc}, headers=admin.headers).json()
    assert report["ok"], report


def test_the_expiry_sweep_ends_lapsed_side_titles_once(
        client: TestClient, city: Caller, admin: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 11)
    enroll(client, city, uscc, on="2024-01-10")
    grant(client, city, uscc, "tech_sme", on="2024-03-01")  # → 2024-12-31
    grant(client, city, uscc, on="2024-03-01")  # → 2027-02-28
    dry = client.post("/api/v1/dynamic-management/sweeps", json={"as_of": "2025-01-05"}, headers=admin.headers)
    assert dry.json()["side_titles_ended"] == {"tech_sme": 1}
    assert event_count(api_sessions, uscc) == 3
    applied = client.post("/api/v1/dynamic-management/sweeps", json={"as_of": "2025-01-05", "apply": True},
                          headers=admin.headers)
    assert applied.json()["side_titles_ended"] == {"tech_sme": 1}
    again = client.post("/api/v1/dynamic-management/sweeps", json={"as_of": "2025-01-05", "apply": True},
                        headers=admin.headers)
    assert again.json()["side_titles_ended"] == {}
    history = client.get(f"{BASE}/{uscc}/history", headers=admin.headers).json()["items"]
    last = history[-1]
    assert (len(history), last["trigger"], last["actor"], last["effective_date"], last["reason_code"]) == (
        4, "end_side_title", "system", "2025-01-01", "expired")
    assert listed(client, city, uscc, "2025-01-05") == [("high_tech_enterprise", "2027-02-28")]
    assert client.get("/api/v1/audit/verify", params={"uscc": uscc}, headers=admin.headers).json()["ok"]


def test_verify_names_the_grant_whose_stored_side_title_was_changed(
        client: TestClient, city: Caller, admin: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 12)
    enroll(client, city, uscc)
    grant(client, city, uscc, on="2025-03-01")
    with api_sessions() as session:
        session.execute(update(SideTitle).where(SideTitle.granted_by_seq == 2).values(document_no="伪造〔2025〕1号"))
        session.commit()
    report = client.get("/api/v1/audit/verify", params={"uscc": uscc}, headers=admin.headers).json()
    assert not report["ok"]
    assert [(p["uscc"], p["seq"]) for p in report["problems"]] == [(uscc, 2)]
