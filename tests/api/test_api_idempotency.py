"""Idempotency-Key: a retry replays the stored response and writes nothing; keys are per principal."""

from __future__ import annotations

from api_support import BASE, Caller, assert_problem, enroll, event_count, firm_count, make_uscc, transition_body
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker


def test_retried_enrolment_replays_the_stored_201(client: TestClient, city: Caller,
                                                  api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 1)
    payload = {"uscc": uscc, "name": "幂等企业", "effective_date": "2025-01-10"}
    headers = city.with_headers(Idempotency_Key="enrol-1")
    first = client.post(BASE, headers=headers, json=payload)
    again = client.post(BASE, headers=headers, json=dict(reversed(payload.items())))  # same body, other key order
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotency-replayed"] == "true"
    assert "idempotency-replayed" not in first.headers
    assert again.json() == first.json()
    assert (again.headers["location"], again.headers["etag"]) == (first.headers["location"], first.headers["etag"])
    assert again.headers["content-type"] == "application/json"
    assert firm_count(api_sessions) == 1
    assert event_count(api_sessions, uscc) == 1


def test_retried_transition_replays_and_writes_one_event(client: TestClient, city: Caller,
                                                         api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 2)
    enroll(client, city, uscc)
    headers = city.with_headers(Idempotency_Key="rec-1")
    body = transition_body("recognize_innovative", "2025-02-01")
    first = client.post(f"{BASE}/{uscc}/transitions", headers=headers, json=body)
    again = client.post(f"{BASE}/{uscc}/transitions", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert event_count(api_sessions, uscc) == 2  # without the key the retry would be a 409 illegal-transition


def test_retried_patch_replays(client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 3)
    enroll(client, city, uscc)
    headers = city.with_headers(Idempotency_Key="patch-1")
    first = client.patch(f"{BASE}/{uscc}", headers=headers, json={"name": "新名称"})
    again = client.patch(f"{BASE}/{uscc}", headers=headers, json={"name": "新名称"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["idempotency-replayed"] == "true"
    assert event_count(api_sessions, uscc) == 2


def test_same_key_other_body_is_422_idempotency_key_reuse(client: TestClient, city: Caller,
                                                          api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 4)
    headers = city.with_headers(Idempotency_Key="k")
    client.post(BASE, headers=headers, json={"uscc": uscc, "name": "一"})
    reuse = client.post(BASE, headers=headers, json={"uscc": make_uscc("410106", 5), "name": "二"})
    body = assert_problem(reuse, 422, "idempotency-key-reuse")
    assert "'k'" in body["detail"]
    other_route = client.patch(f"{BASE}/{uscc}", headers=headers, json={"name": "一"})
    assert_problem(other_route, 422, "idempotency-key-reuse")
    assert firm_count(api_sessions) == 1


def test_keys_are_scoped_per_principal(client: TestClient, city: Caller, province: Caller,
                                       api_sessions: sessionmaker[Session]) -> None:
    first, second = make_uscc("410106", 6), make_uscc("410106", 7)
    client.post(BASE, headers=city.with_headers(Idempotency_Key="shared"), json={"uscc": first, "name": "市"})
    other = client.post(BASE, headers=province.with_headers(Idempotency_Key="shared"),
                        json={"uscc": second, "name": "省"})
    assert other.status_code == 201, other.text
    assert "idempotency-replayed" not in other.headers
    same_body = client.post(BASE, headers=province.with_headers(Idempotency_Key="shared2"),
                            json={"uscc": first, "name": "市"})
    assert_problem(same_body, 409, "already-exists")  # another principal's key never replays for you
    assert firm_count(api_sessions) == 2


def test_a_refused_request_is_not_stored_so_a_corrected_retry_runs(client: TestClient, city: Caller,
                                                                    api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 8)
    enroll(client, city, uscc)
    headers = city.with_headers(Idempotency_Key="retry-after-refusal")
    body = transition_body("recognize_innovative", "2025-02-01")
    client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"name": "改"})  # version 2
    refused = client.post(f"{BASE}/{uscc}/transitions", headers={**headers, "If-Match": '"1"'}, json=body)
    assert_problem(refused, 412, "version-mismatch")
    today_body = {**body, "effective_date": client.get(f"{BASE}/{uscc}/history", headers=city.headers)
                  .json()["items"][-1]["effective_date"]}
    done = client.post(f"{BASE}/{uscc}/transitions", headers=headers, json=today_body)
    assert done.status_code == 200, done.text
    assert event_count(api_sessions, uscc) == 3


def test_an_overlong_key_is_a_422_naming_the_header_on_every_write_route(client: TestClient, city: Caller,
                                                                          api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 9)
    enroll(client, city, uscc)
    headers = city.with_headers(Idempotency_Key="k" * 201)
    for method, path, body in (("POST", BASE, {"uscc": make_uscc("410106", 10), "name": "太长的键"}),
                               ("PATCH", f"{BASE}/{uscc}", {"name": "改名"}),
                               ("POST", f"{BASE}/{uscc}/transitions", transition_body("recognize_innovative",
                                                                                      "2025-02-01"))):
        problem = assert_problem(client.request(method, path, headers=headers, json=body), 422, "validation-error")
        assert problem["errors"] == [{"field": "idempotency-key",
                                      "message": "String should have at most 200 characters"}]
    assert firm_count(api_sessions) == 1
    assert event_count(api_sessions, uscc) == 1
    accepted = client.post(f"{BASE}/{uscc}/transitions", headers=city.with_headers(Idempotency_Key="k" * 200),
                           json=transition_body("recognize_innovative", "2025-02-01"))
    assert accepted.status_code == 200, accepted.text


def test_the_write_routes_declare_their_headers_and_bearer_scheme(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method, headers in ((BASE, "post", ["idempotency-key"]),
                                  (f"{BASE}/{{uscc}}", "patch", ["idempotency-key", "if-match"]),
                                  (f"{BASE}/{{uscc}}/transitions", "post", ["idempotency-key", "if-match"])):
        operation = paths[path][method]
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        assert sorted(declared) == headers
        assert declared["idempotency-key"]["schema"]["anyOf"][0] == {"type": "string", "maxLength": 200}
        assert operation["security"] == [{"bearer": []}]
