"""A real multi-process server (`pipeline serve --workers 4`) under 20 simultaneous identical requests.

Exactly one transition wins; the others are refused (409 illegal-transition, or 412 when they carried the
version they all read); the history holds one new event. With one Idempotency-Key, all 20 get the same
stored response and one event is written. Runs on PostgreSQL (the real target) and on SQLite, which
serialises writers with BEGIN IMMEDIATE and a 30 s busy timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from api_support import BASE, make_uscc, transition_body

from pipeline.db import make_engine, make_session_factory, unit_of_work
from pipeline.principals import add_principal

CLIENTS = 20


@dataclass(frozen=True)
class Server:
    base_url: str
    headers: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The server and its worker processes share a process group we created: end that group only."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like conftest's ``database_url`` (a fresh copy of the migrated template), but one per module: starting
    four workers is the slow part, so the three scenarios share one server and use a firm each."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("served") / "pipeline.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    url = template.clone()
    yield url
    template.drop(url)


@pytest.fixture(scope="module")
def server(served_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database_url = served_database
    tmp_path = tmp_path_factory.mktemp("server")
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        token = add_principal(session, name="并发测试", role="official", level="city", region_code="410100",
                              created_by="cli:test").token
    engine.dispose()
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--workers", "4", "--port", str(port), "--log-level",
         "warning"],
        env={**os.environ, "PIPELINE_DATABASE_URL": database_url}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.1)
        yield Server(base_url, {"Authorization": f"Bearer {token}"})
    finally:
        _stop(process)
        log.close()


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
