"""A write unit runs on the event loop until it would wait for a lock; then it runs again on a worker thread
(:func:`api.deps.write_unit`). A firm held by another transaction (an import, a sweep, a console session)
must hold up only the request that writes it — not the other requests of the same worker — and that request
must still land once, exactly as if it had waited from the start."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from api_support import BASE, SHANGJIE, Caller, enroll, event_count, fire, make_uscc, transition_body
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import make_engine


def test_a_locked_firm_holds_up_only_its_own_write(app: FastAPI, client: TestClient, province: Caller,
                                                   database_url: str, api_sessions: sessionmaker[Session]) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks between transactions are PostgreSQL's; SQLite's writers queue for one database "
                    "lock, and there every write unit runs on a worker thread")
    held, other = make_uscc(SHANGJIE, 71), make_uscc(SHANGJIE, 72)
    enroll(client, province, held)
    enroll(client, province, other)
    fire(client, province, other, "recognize_innovative", "2025-02-01")
    quick, patient = app.state.quick_write_engine.pool, app.state.write_engine.pool
    assert quick.checkedin() >= 1
    assert patient.checkedin() == 0

    waits_before = REGISTRY.get_sample_value("pipeline_write_lock_waits_total") or 0.0
    headers = province.with_headers(idempotency_key="locked-firm-1")
    body = transition_body("recognize_innovative", "2025-02-01")
    outcome: dict[str, httpx.Response] = {}
    holder = make_engine(database_url)
    try:
        with holder.connect() as connection:
            connection.execute(text("SELECT id FROM enterprises WHERE uscc = :uscc FOR UPDATE"), {"uscc": held})

            def write_the_held_firm() -> None:
                outcome["held"] = client.post(f"{BASE}/{held}/transitions", json=body, headers=headers)

            writer = threading.Thread(target=write_the_held_firm)
            writer.start()
            time.sleep(0.5)
            assert writer.is_alive()  # it waits for the lock …

            def serve_another_firm() -> None:
                outcome["read"] = client.get(f"{BASE}/{other}", headers=province.headers)
                outcome["write"] = client.post(f"{BASE}/{other}/transitions", headers=province.headers,
                                               json=transition_body("recognize_provincial", "2025-03-01"))

            others = threading.Thread(target=serve_another_firm)
            others.start()
            others.join(timeout=10)
            assert not others.is_alive()  # … while the worker goes on serving other firms' reads and writes
            assert (outcome["read"].status_code, outcome["write"].status_code) == (200, 200)
            assert writer.is_alive()
            connection.rollback()  # the other transaction ends
        writer.join(timeout=30)
    finally:
        holder.dispose()
    assert not writer.is_alive()
    assert outcome["held"].status_code == 200, outcome["held"].text
    assert outcome["held"].json()["event"]["seq"] == 2
    assert patient.checkedin() == 1  # the held firm's unit ran again on a worker thread, which waited
    assert REGISTRY.get_sample_value("pipeline_write_lock_waits_total") == waits_before + 1  # operators see it

    retry = client.post(f"{BASE}/{held}/transitions", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.headers["idempotency-replayed"] == "true"
    assert retry.json() == outcome["held"].json()
    assert event_count(api_sessions, held) == 2  # written once: the rolled-back first attempt left nothing
