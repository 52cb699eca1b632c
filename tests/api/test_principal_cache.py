"""Tokens are remembered per process on PostgreSQL and forgotten the moment a principal is revoked — by
this process or any other (``pipeline principal revoke`` in another process notifies every API process)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from api_support import BASE, Caller, assert_problem
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from pipeline.cli import main


@contextmanager
def principal_reads(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM principals" in statement:
            seen.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(app.state.engine, "before_cursor_execute", listener)


def _wait_listening(app: FastAPI) -> None:
    deadline = time.monotonic() + 10
    while not app.state.principals.listening:
        assert time.monotonic() < deadline, "the principal cache never started listening"
        time.sleep(0.02)


def test_a_known_token_is_read_once_then_served_from_memory_on_postgresql(
        app: FastAPI, client: TestClient, city: Caller, dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("SQLite reads principals every time: revocations from other processes send it no signal")
    _wait_listening(app)
    with principal_reads(app) as reads:
        for _ in range(3):
            assert client.get(BASE, headers=city.headers).status_code == 200
    assert len(reads) == 1


def test_a_token_revoked_by_another_process_is_refused_at_once(
        app: FastAPI, client: TestClient, city: Caller, database_url: str, dialect: str) -> None:
    if dialect == "postgresql":
        _wait_listening(app)
    assert client.get(BASE, headers=city.headers).status_code == 200  # cached from here on (PostgreSQL)
    assert main(["--database-url", database_url, "principal", "revoke", city.id]) == 0
    deadline = time.monotonic() + 1.0  # the notification is delivered when the revoke commits
    while (response := client.get(BASE, headers=city.headers)).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token still worked a second after the revoke"
        time.sleep(0.01)
    assert_problem(response, 401, "unauthorized")
