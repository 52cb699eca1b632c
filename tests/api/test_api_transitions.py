"""POST …/transitions and allowed_triggers: success, illegal moves, guards, optimistic concurrency."""

from __future__ import annotations

from api_support import BASE, Caller, assert_problem, enroll, event_count, fire, make_uscc, transition_body, version_of
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.dates import business_today

TODAY = business_today().isoformat()  # an edit is dated today, so what follows it is too


def test_recognition_returns_the_firm_and_the_event(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 1)
    enroll(client, city, uscc)
    response = fire(client, city, uscc, "recognize_innovative", "2025-02-01",
                    evidence={"document_no": "豫工信企业〔2025〕1号", "batch": "2025-1"})
    assert response.headers["etag"] == '"2"'
    body = response.json()
    assert body["enterprise"]["state"] == "innovative"
    assert body["enterprise"]["version"] == 2
    [title] = body["enterprise"]["recognitions"]
    assert (title["tier"], title["recognized_on"], title["valid_until"]) == ("innovative", "2025-02-01", "2028-01-31")
    assert title["document_no"] == "豫工信企业〔2025〕1号"
    event = body["event"]
    assert (event["seq"], event["trigger"], event["from_state"], event["to_state"]) == (
        2, "recognize_innovative", "reserve", "innovative")
    assert event["actor"] == city.id
    assert event["evidence"]["document_no"] == "豫工信企业〔2025〕1号"


def test_recognitions_then_renewal_through_the_api(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 2)
    enroll(client, city, uscc, on="2022-09-01")
    fire(client, city, uscc, "recognize_innovative", "2022-09-01")
    fire(client, city, uscc, "recognize_provincial", "2022-10-01")
    renewed = fire(client, city, uscc, "renew", "2025-09-01").json()["enterprise"]
    assert renewed["state"] == "provincial"
    windows = [(t["tier"], t["valid_until"], t["ended_on"]) for t in renewed["recognitions"]]
    assert ("provincial", "2028-09-30", None) in windows
    assert ("provincial", "2025-09-30", "2025-09-01") in windows


def test_illegal_transition_is_409_listing_what_is_allowed(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 3)
    enroll(client, city, uscc)
    response = client.post(f"{BASE}/{uscc}/transitions", headers=city.headers,
                           json=transition_body("recognize_national", "2025-02-01"))
    body = assert_problem(response, 409, "illegal-transition")
    assert body["state"] == "reserve"
    assert body["allowed_triggers"] == ["recognize_innovative", "revoke", "remove"]
    assert "recognize_innovative" in body["detail"]
    assert event_count(api_sessions, uscc) == 1


def test_guard_failure_is_409_naming_the_guard(client: TestClient, city: Caller,
                                               api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 4)
    enroll(client, city, uscc)
    fire(client, city, uscc, "recognize_innovative", "2025-02-01")
    response = client.post(f"{BASE}/{uscc}/transitions", headers=city.headers,
                           json=transition_body("revoke", "2025-03-01", reason_code="bribery"))
    body = assert_problem(response, 409, "guard-failed")
    assert body["guard"] == "reason_code_in_catalogue"
    assert body["trigger"] == "revoke"
    assert "false_information" in body["detail"]  # says what the catalogue holds
    missing = client.post(f"{BASE}/{uscc}/transitions", headers=city.headers,
                          json={"trigger": "recognize_provincial", "effective_date": "2025-03-01"})
    assert {r["guard"] for r in assert_problem(missing, 409, "guard-failed")["refusals"]} == {
        "decision_evidence_required"}
    assert event_count(api_sessions, uscc) == 2


def test_stale_if_match_is_412_and_writes_nothing(client: TestClient, city: Caller,
                                                  api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 5)
    etag = enroll(client, city, uscc).headers["etag"]
    client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"data": {"industry": "装备制造"}})
    stale = client.post(f"{BASE}/{uscc}/transitions", headers=city.with_headers(If_Match=etag),
                        json=transition_body("recognize_innovative", TODAY))
    body = assert_problem(stale, 412, "version-mismatch")
    assert body["current_version"] == 2
    stale_patch = client.patch(f"{BASE}/{uscc}", headers=city.with_headers(If_Match=etag), json={"name": "x"})
    assert_problem(stale_patch, 412, "version-mismatch")
    assert_problem(client.patch(f"{BASE}/{uscc}", headers=city.with_headers(If_Match="abc"), json={"name": "x"}),
                   412, "version-mismatch")
    assert event_count(api_sessions, uscc) == 2
    assert version_of(api_sessions, uscc) == 2
    fresh = client.get(f"{BASE}/{uscc}", headers=city.headers).headers["etag"]
    assert fresh == '"2"'
    fire(client, city, uscc, "recognize_innovative", TODAY, headers={"If-Match": fresh})


def test_request_body_errors_are_422_with_fields(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 6)
    enroll(client, city, uscc)
    response = client.post(f"{BASE}/{uscc}/transitions", headers=city.headers,
                           json={"trigger": "promote", "effective_date": "yesterday", "evidence": {"valid_until": 0}})
    fields = {error["field"] for error in assert_problem(response, 422, "validation-error")["errors"]}
    assert {"trigger", "effective_date", "evidence.valid_until"} <= fields


def test_invalid_uscc_in_the_path_is_422(client: TestClient, city: Caller) -> None:
    bad = make_uscc("410106", 7)[:17] + "I"  # I is not in the GB 32100 alphabet
    body = assert_problem(client.post(f"{BASE}/{bad}/transitions", headers=city.headers,
                                      json=transition_body("remove", "2025-01-01")), 422, "invalid-uscc")
    assert "character 18" in body["detail"]


def test_allowed_triggers_say_why_each_refused_one_is_refused(client: TestClient, city: Caller,
                                                              district: Caller) -> None:
    uscc = make_uscc("410106", 8)
    enroll(client, city, uscc)
    options = {o["trigger"]: o for o in client.get(f"{BASE}/{uscc}", headers=city.headers).json()["allowed_triggers"]}
    assert set(options) == {"enroll", "recognize_innovative", "recognize_provincial", "recognize_national", "renew",
                            "demote", "expire", "revoke", "remove"}
    assert options["recognize_innovative"] == {"trigger": "recognize_innovative", "allowed": True, "reasons": []}
    assert not options["recognize_national"]["allowed"]
    assert "not allowed from state 'reserve'" in options["recognize_national"]["reasons"][0]
    assert "permissions.expire" in " ".join(options["expire"]["reasons"])  # a city official may not expire
    as_district = {o["trigger"]: o for o in client.get(f"{BASE}/{uscc}", headers=district.headers)
                   .json()["allowed_triggers"]}
    assert not as_district["recognize_innovative"]["allowed"]
    assert "official:district" in as_district["recognize_innovative"]["reasons"][0]
    assert as_district["remove"]["allowed"]


def test_allowed_triggers_explain_a_bar_after_revocation(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 9)
    enroll(client, city, uscc)
    fire(client, city, uscc, "revoke", "2025-03-01")
    detail = client.get(f"{BASE}/{uscc}", headers=city.headers).json()
    assert detail["barred_until"] == "2028-03-01"
    enroll_option = next(o for o in detail["allowed_triggers"] if o["trigger"] == "enroll")
    assert not enroll_option["allowed"]
    assert any("2028-03-01" in reason for reason in enroll_option["reasons"])
