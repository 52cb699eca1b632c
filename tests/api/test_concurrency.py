"""A real multi-process server (`pipeline serve --workers 4`) under 20 simultaneous identical requests.

Exactly one transition wins; the others are refused (409 illegal-transition, or 412 when they carried the
version they all read); the history holds one new event. With one Idempotency-Key, all 20 get the same
stored response and one event is written. Runs on PostgreSQL (the real target) and on SQLite, which
serialises writers with BEGIN IMMEDIATE and a 30 s busy timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from api_support import BASE, make_uscc, transition_body
from helpers import template_copy
from server_process import serve

from pipeline.db import make_engine, make_session_factory, unit_of_work
from pipeline.principals.service import add_principal

CLIENTS = 20


@dataclass(frozen=True)
class Server:
    base_url: str
    headers: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like conftest's ``database_url`` (a fresh copy of the migrated template), but one per module: starting
    four workers is the slow part, so the three scenarios share one server and use a firm each."""
    with template_copy(request, tmp_path_factory.mktemp("served")) as url:
        yield url


@pytest.fixture(scope="module")
def server(served_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database_url = served_database
    tmp_path = tmp_path_factory.mktemp("server")
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        token = add_principal(session, name="并发测试", role="official", level="city", region_code="410100",
                              created_by="cli:test").token
    engine.dispose()
    with serve(database_url, 4, tmp_path / "server.log") as base_url:
        yield Server(base_url, {"Authorization": f"Bearer {token}"})


def _all_at_once(server: Server, path: str, body: dict[str, Any], headers: dict[str, str]) -> list[httpx.Response]:
    """CLIENTS requests, each on its own connection, released together by a barrier."""
    barrier = threading.Barrier(CLIENTS)

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            client.get("/healthz")  # connect first, so the barrier releases requests, not handshakes
            barrier.wait()
            return client.post(path, json=body, headers={**server.headers, **headers})

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def _history(server: Server, uscc: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.base_url}{BASE}/{uscc}/history", headers=server.headers, timeout=10)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _enroll(server: Server, uscc: str) -> None:
    response = httpx.post(f"{server.base_url}{BASE}", headers=server.headers, timeout=10,
                          json={"uscc": uscc, "name": "并发企业", "effective_date": "2025-01-10"})
    assert response.status_code == 201, response.text


def test_twenty_identical_transitions_one_wins(server: Server) -> None:
    uscc = make_uscc("410106", 1)
    _enroll(server, uscc)
    responses = _all_at_once(server, f"{BASE}/{uscc}/transitions",
                             transition_body("recognize_innovative", "2025-02-01"), {})
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) - {200} <= {409, 412}, statuses
    losers = [r.json() for r in responses if r.status_code != 200]
    assert all(body["type"].endswith("/illegal-transition") for body in losers)
    history = _history(server, uscc)
    assert [event["trigger"] for event in history] == ["enroll", "recognize_innovative"]


def test_twenty_identical_transitions_with_if_match_one_wins(server: Server) -> None:
    uscc = make_uscc("410106", 2)
    _enroll(server, uscc)
    responses = _all_at_once(server, f"{BASE}/{uscc}/transitions", transition_body("renew", "2025-03-01"), {})
    assert sorted(r.status_code for r in responses)[0] == 409  # renew is not allowed from reserve: a control
    recognised = httpx.post(f"{server.base_url}{BASE}/{uscc}/transitions", headers=server.headers, timeout=10,
                            json=transition_body("recognize_innovative", "2025-02-01"))
    etag = recognised.headers["etag"]
    # renew may fire again and again; If-Match is what lets exactly one of the twenty through
    responses = _all_at_once(server, f"{BASE}/{uscc}/transitions", transition_body("renew", "2025-03-01"),
                             {"If-Match": etag})
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) - {200} == {412}, statuses
    assert [event["trigger"] for event in _history(server, uscc)] == ["enroll", "recognize_innovative", "renew"]


def test_twenty_requests_with_one_idempotency_key_write_once(server: Server) -> None:
    uscc = make_uscc("410106", 3)
    _enroll(server, uscc)
    responses = _all_at_once(server, f"{BASE}/{uscc}/transitions",
                             transition_body("recognize_innovative", "2025-02-01"), {"Idempotency-Key": "same-key"})
    assert [r.status_code for r in responses] == [200] * CLIENTS, [r.text for r in responses if r.status_code != 200]
    assert len({r.content for r in responses}) == 1  # byte-identical: the stored response
    assert sum(r.headers.get("idempotency-replayed") == "true" for r in responses) == CLIENTS - 1
    assert len(_history(server, uscc)) == 2
