"""Corrections, never edits: only the latest event, only within the window, only with the right, and the
voided event stays in the history marked by its correction."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from helpers import ADMIN, AUDITOR, CITY, DISTRICT, Factory, enroll, events, fire, load, make_uscc, walk

from api.main import create_app
from pipeline.db import unit_of_work
from pipeline.errors import Forbidden, GuardFailed
from pipeline.history import corrections, verify
from pipeline.principals.service import add_principal

D = dt.date.fromisoformat


def _void(factory: Factory, uscc: str, seq: int, actor=ADMIN):  # type: ignore[no-untyped-def]
    with unit_of_work(factory) as session:
        return corrections.void(session, uscc, seq, actor=actor, reason="误录")


def _verified(factory: Factory) -> bool:
    with factory() as session:
        return verify.verify(session).ok


def test_voiding_a_recognition_reverses_state_and_title_and_keeps_the_event(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 1)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"),
                                 ("recognize_provincial", "2023-01-10")])
    outcome = _void(session_factory, uscc, 3, CITY)
    assert (outcome.event.kind, outcome.event.trigger, outcome.event.seq) == ("correction", "correct", 4)
    assert outcome.event.evidence["voids_seq"] == 3
    firm = load(session_factory, uscc)
    assert firm.state == "innovative"
    provincial = next(t for t in firm.recognitions if t.tier == "provincial")
    assert provincial.end_reason == "voided"
    assert not provincial.valid_on(D("2023-06-01"))
    assert [e.seq for e in events(session_factory, uscc)] == [1, 2, 3, 4]
    assert _verified(session_factory)
    # A new, correct decision can follow.
    fire(session_factory, uscc, "recognize_provincial", "2023-02-01")
    assert load(session_factory, uscc).state == "provincial"
    assert _verified(session_factory)


def test_voiding_a_revocation_reopens_titles_and_lifts_the_bar(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 2)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"),
                                 ("revoke", "2023-01-10")])
    _void(session_factory, uscc, 3)
    firm = load(session_factory, uscc)
    assert (firm.state, firm.barred_until) == ("innovative", None)
    assert [t.ended_on for t in firm.recognitions] == [None]
    assert _verified(session_factory)


def test_only_the_latest_event_and_not_a_correction_nor_the_first_enrolment(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 3)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")])
    with pytest.raises(GuardFailed, match="only the firm's latest event"):
        _void(session_factory, uscc, 1)
    _void(session_factory, uscc, 2)
    with pytest.raises(GuardFailed, match="a correction cannot be voided"):
        _void(session_factory, uscc, 3)
    other = make_uscc("410106", 4)
    enroll(session_factory, other)
    with pytest.raises(GuardFailed, match="first enrolment"):
        _void(session_factory, other, 1)


def test_the_correction_window_and_permissions(session_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    uscc = make_uscc("410106", 5)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")])
    with pytest.raises(Forbidden):
        _void(session_factory, uscc, 2, AUDITOR)
    with pytest.raises(Forbidden, match="recognize_innovative"):
        _void(session_factory, uscc, 2, DISTRICT)  # a district may not undo a city's recognition
    recorded = events(session_factory, uscc)[-1].recorded_at
    monkeypatch.setattr(corrections, "utc_now", lambda: recorded + dt.timedelta(days=31))
    with pytest.raises(GuardFailed, match="within 30 days"):
        _void(session_factory, uscc, 2)
    monkeypatch.setattr(corrections, "utc_now", lambda: recorded + dt.timedelta(days=29))
    _void(session_factory, uscc, 2)
    assert load(session_factory, uscc).state == "reserve"


def test_the_void_route_and_the_history_marking(database_url: str, session_factory: Factory) -> None:
    uscc = make_uscc("410106", 6)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")])
    with unit_of_work(session_factory) as session:
        token = add_principal(session, name="市局", role="official", level="city", region_code="410100",
                              created_by="test").token
        outsider = add_principal(session, name="三门峡", role="official", level="city", region_code="411200",
                                 created_by="test").token
    with TestClient(create_app(database_url)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/enterprises/{uscc}/events/2/void"
        assert client.post(path, json={"reason": "误录"}, headers={"Authorization": f"Bearer {outsider}"}
                           ).status_code == 404
        assert client.post(f"/api/v1/enterprises/{uscc}/events/1/void", json={"reason": "x"},
                           headers=auth).json()["type"].endswith("guard-failed")
        response = client.post(path, json={"reason": "误录"}, headers={**auth, "Idempotency-Key": "v-1"})
        assert response.status_code == 200, response.text
        assert response.json()["enterprise"]["state"] == "reserve"
        assert client.post(path, json={"reason": "误录"}, headers={**auth, "Idempotency-Key": "v-1"}
                           ).headers.get("Idempotency-Replayed") == "true"
        history = client.get(f"/api/v1/enterprises/{uscc}/history", headers=auth).json()
        assert [(e["seq"], e["kind"]) for e in history["items"]] == [
            (1, "transition"), (2, "transition"), (3, "correction")]
        assert history["voided_by"] == {"2": 3}
