"""Idempotency-Key keeps the answer of every request that reached the action, refusals included: a retry
with the same key and body replays the stored 403, 404, 409 or domain 422 — even after the firm changed so
that the request would now succeed — and writes nothing. Answers that say nothing final (401, 409
`conflict`, 412, request-validation 422, 5xx) are not kept, so the retry runs."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import BASE, SHANGJIE, Caller, assert_problem, enroll, event_count, fire, make_uscc, transition_body
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import Conflict
from pipeline.firms import service

FIRM = make_uscc(SHANGJIE, 81)


def _post(client: TestClient, caller: Caller, key: str, body: dict[str, Any], uscc: str = FIRM,
          **headers: str) -> Any:
    return client.post(f"{BASE}/{uscc}/transitions", json=body,
                       headers=caller.with_headers(Idempotency_Key=key, **headers))


def test_a_refused_transition_is_replayed_even_after_the_firm_changed(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    enroll(client, city, FIRM)
    body = transition_body("recognize_provincial", "2025-03-01")
    first = _post(client, city, "prov-1", body)
    assert_problem(first, 409, "illegal-transition")
    fire(client, city, FIRM, "recognize_innovative", "2025-02-01")  # now recognize_provincial would be legal
    again = _post(client, city, "prov-1", body)
    assert_problem(again, 409, "illegal-transition")
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
    assert event_count(api_sessions, FIRM) == 2
    fresh = _post(client, city, "prov-2", body)  # a new key is a new request
    assert fresh.status_code == 200, fresh.text


def test_a_guard_refusal_is_replayed(client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    enroll(client, city, FIRM, on="2025-01-10")
    body = transition_body("remove", "2025-01-05")  # before the firm's latest event
    first = _post(client, city, "remove-1", body)
    assert_problem(first, 409, "guard-failed")
    again = _post(client, city, "remove-1", body)
    assert_problem(again, 409, "guard-failed")
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
    assert event_count(api_sessions, FIRM) == 1


def test_a_404_is_replayed_after_the_firm_is_enrolled(client: TestClient, city: Caller) -> None:
    body = transition_body("recognize_innovative", "2025-02-01")
    assert_problem(_post(client, city, "early", body), 404, "not-found")
    enroll(client, city, FIRM)
    again = _post(client, city, "early", body)
    assert_problem(again, 404, "not-found")
    assert again.headers["idempotency-replayed"] == "true"


def test_a_403_is_replayed(client: TestClient, city: Caller, integrator: Caller) -> None:
    enroll(client, city, FIRM)
    body = transition_body("recognize_innovative", "2025-02-01")
    assert_problem(_post(client, integrator, "not-mine", body), 403, "forbidden")
    again = _post(client, integrator, "not-mine", body)
    assert_problem(again, 403, "forbidden")
    assert again.headers["idempotency-replayed"] == "true"


def test_already_exists_is_replayed(client: TestClient, city: Caller) -> None:
    enroll(client, city, FIRM)
    payload = {"uscc": FIRM, "name": "重复企业"}
    headers = city.with_headers(Idempotency_Key="dup")
    assert_problem(client.post(BASE, json=payload, headers=headers), 409, "already-exists")
    again = client.post(BASE, json=payload, headers=headers)
    assert_problem(again, 409, "already-exists")
    assert again.headers["idempotency-replayed"] == "true"


def test_a_domain_422_is_replayed_even_when_the_retry_would_now_succeed(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    enroll(client, city, FIRM, name="原名")
    headers = city.with_headers(Idempotency_Key="rename")
    first = client.patch(f"{BASE}/{FIRM}", json={"name": "原名"}, headers=headers)  # nothing to change
    assert_problem(first, 422, "validation-error")
    client.patch(f"{BASE}/{FIRM}", json={"name": "新名"}, headers=city.headers)
    again = client.patch(f"{BASE}/{FIRM}", json={"name": "原名"}, headers=headers)
    assert_problem(again, 422, "validation-error")
    assert again.headers["idempotency-replayed"] == "true"
    assert event_count(api_sessions, FIRM) == 2


def test_a_stale_if_match_is_not_kept_so_the_same_request_runs_with_the_fresh_version(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    enroll(client, city, FIRM)
    body = transition_body("recognize_innovative", "2025-02-01")
    assert_problem(_post(client, city, "stale", body, If_Match='"7"'), 412, "version-mismatch")
    done = _post(client, city, "stale", body, If_Match='"1"')
    assert done.status_code == 200, done.text
    assert "idempotency-replayed" not in done.headers
    assert event_count(api_sessions, FIRM) == 2


def test_a_request_validation_422_is_not_kept(client: TestClient, city: Caller) -> None:
    enroll(client, city, FIRM)
    bad = _post(client, city, "typo", {"trigger": "recognize_innovative", "effective_date": "2025-02-31"})
    assert_problem(bad, 422, "validation-error")
    good = _post(client, city, "typo", transition_body("recognize_innovative", "2025-02-01"))
    assert good.status_code == 200, good.text  # not `idempotency-key-reuse`: the bad request never started


def test_a_401_is_not_kept(client: TestClient, city: Caller) -> None:
    enroll(client, city, FIRM)
    body = transition_body("recognize_innovative", "2025-02-01")
    stranger = client.post(f"{BASE}/{FIRM}/transitions", json=body,
                           headers={"Authorization": "Bearer zjtx_nope", "Idempotency-Key": "k401"})
    assert_problem(stranger, 401, "unauthorized")
    assert _post(client, city, "k401", body).status_code == 200


def test_a_conflict_is_not_kept(client: TestClient, city: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    enroll(client, city, FIRM)
    body = transition_body("recognize_innovative", "2025-02-01")
    real = service.transition

    def concurrent_writer(*args: Any, **kwargs: Any) -> Any:
        raise Conflict("并发修改 — another request changed the firm first")

    monkeypatch.setattr(service, "transition", concurrent_writer)
    assert_problem(_post(client, city, "busy", body), 409, "conflict")
    monkeypatch.setattr(service, "transition", real)
    retried = _post(client, city, "busy", body)
    assert retried.status_code == 200, retried.text
    assert "idempotency-replayed" not in retried.headers


def test_a_500_is_not_kept(app: FastAPI, city: Caller, monkeypatch: pytest.MonkeyPatch,
                           api_sessions: sessionmaker[Session]) -> None:
    real = service.transition

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        enroll(client, city, FIRM)
        body = transition_body("recognize_innovative", "2025-02-01")
        monkeypatch.setattr(service, "transition", broken)
        assert_problem(_post(client, city, "bug", body), 500, "internal-error")
        monkeypatch.setattr(service, "transition", real)
        retried = _post(client, city, "bug", body)
        assert retried.status_code == 200, retried.text
    assert event_count(api_sessions, FIRM) == 2
