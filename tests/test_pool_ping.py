"""Pooled PostgreSQL connections: one that sat idle is pinged before use and replaced when the server has
dropped it, so a restart costs no failed request; one in steady use is not pinged (no round trip)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

import pipeline.db


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
        engine: Engine, dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if dialect != "postgresql":
        pytest.skip("SQLite connections are files: nothing to drop")
    with engine.connect() as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    outside = create_engine(engine.url, poolclass=NullPool)  # not from the pool under test
    with outside.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        other.commit()
    outside.dispose()
    monkeypatch.setattr(pipeline.db, "IDLE_PING_SECONDS", 0.0)  # both have now been idle "long enough"
    for _ in range(2):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_a_connection_in_steady_use_is_not_pinged(engine: Engine, dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("SQLite connections are files: nothing to ping")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            with engine.connect() as conn:
                conn.execute(text("SELECT 2"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sent == ["SELECT 2"] * 3
