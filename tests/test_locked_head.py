"""A transition reads its firm's chain head in the statement that locks the firm — and stays right when it waited.

On PostgreSQL a statement that waited for the row lock sees the locked row at its newest version but
evaluates the rest in the snapshot it started with, where the lock holder's event is invisible. The head read
then comes back empty (never the older event's hash: it is keyed on the locked row's ``last_seq``) and the
service reads the head again in a statement of its own. These tests pin both halves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import ADMIN, CITY, Factory, enroll, events, make_uscc
from imports_support import do_import, write_csv
from sqlalchemy import Connection, Engine, event, text

from pipeline.dates import parse_date
from pipeline.db import unit_of_work
from pipeline.firms import service
from pipeline.history.verify import verify


@contextmanager
def head_reads(engine: Engine) -> Iterator[list[str]]:
    """Names of the threads that read a chain head again after their locking read: a second locking read of
    the firm (``SELECT … FOR UPDATE``) or a statement of its own (``SELECT events.hash …``)."""
    seen: list[str] = []
    locking: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        name = threading.current_thread().name
        if statement.lstrip().startswith("SELECT events.hash"):
            seen.append(name)
        elif "FROM enterprises" in statement and "FOR UPDATE" in statement:
            if name in locking:
                seen.append(name)
            locking.append(name)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _recognize(factory: Factory, uscc: str) -> None:
    with unit_of_work(factory) as session:
        service.transition(session, uscc, trigger="recognize_innovative", effective_date=parse_date(
            "2024-02-01", field="effective_date"), actor=ADMIN, evidence={"document_no": "豫工信〔2024〕1号"})


def test_an_uncontended_transition_needs_no_separate_head_read(session_factory: Factory, engine: Engine) -> None:
    uscc = make_uscc("410106", 1)
    enroll(session_factory, uscc, "2024-01-10")
    with head_reads(engine) as reads:
        _recognize(session_factory, uscc)
    assert reads == []
    first, second = events(session_factory, uscc)
    assert second.prev_hash == first.hash


def _someone_waits_for_a_lock(probe: Connection) -> bool:
    try:
        return bool(probe.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar_one())
    finally:
        probe.rollback()


def _amend_while_it_waits(factory: Factory, engine: Engine, uscc: str, thread: threading.Thread,
                          outcome: list[Any]) -> None:
    """Amend the firm (its row locked, seq 2 appended), start ``thread`` and commit only once it waits for the
    lock."""
    with unit_of_work(factory) as holder:
        service.amend(holder, uscc, changes={"name": "更名后的企业"}, actor=ADMIN)  # locks; appends seq 2
        thread.start()
        deadline = time.monotonic() + 60  # generous: a loaded CI machine may be slow to start the thread
        with engine.connect() as probe:
            # pg_stat_activity is a snapshot taken once per transaction: each look is its own transaction,
            # or a first look made before the thread reached the lock would be all the loop ever sees
            while not _someone_waits_for_a_lock(probe):
                assert thread.is_alive(), f"{thread.name} ended without waiting for the lock: {outcome}"
                assert time.monotonic() < deadline, f"{thread.name} never waited for the lock"
                time.sleep(0.02)


@pytest.mark.postgres_only
def test_a_transition_that_waited_for_the_lock_chains_to_the_holders_event(
        session_factory: Factory, engine: Engine, dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("row locks between concurrent transactions are PostgreSQL's; SQLite serialises writers")
    uscc = make_uscc("410106", 2)
    enroll(session_factory, uscc, "2024-01-10")
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            _recognize(session_factory, uscc)
        except BaseException as exc:  # pragma: no cover — reported below
            errors.append(exc)

    thread = threading.Thread(target=waiter, name="waiter")
    with head_reads(engine) as reads:
        _amend_while_it_waits(session_factory, engine, uscc, thread, errors)
        thread.join(timeout=30)
    assert errors == []
    _, amended, recognized = events(session_factory, uscc)
    assert (amended.kind, recognized.trigger) == ("amendment", "recognize_innovative")
    assert recognized.prev_hash == amended.hash
    assert reads == ["waiter"]  # its locking read saw no head in its old snapshot, so it read it again
    with unit_of_work(session_factory) as session:
        assert verify(session, uscc=uscc).problems == []


@pytest.mark.postgres_only
def test_an_import_that_waited_for_a_firms_lock_chains_to_the_holders_event(
        session_factory: Factory, engine: Engine, dialect: str, tmp_path: Path) -> None:
    """The import's chunk load locks its firms and reads their chain heads in one statement; for a firm another
    writer held, that statement reads the head in its old snapshot. The import must load the firm again and
    chain its event to the holder's — not to the event before it, which would break the chain."""
    if dialect != "postgresql":
        pytest.skip("row locks between concurrent transactions are PostgreSQL's; SQLite serialises writers")
    held, free = make_uscc("410106", 3), make_uscc("410106", 4)
    for code in (held, free):
        enroll(session_factory, code, "2024-01-10")
    path = write_csv(tmp_path / "认定名单.csv", [(1, free, "乙", "", "2024-02-01", "豫工信〔2024〕1号"),
                                                 (2, held, "甲", "", "2024-02-01", "豫工信〔2024〕1号")])
    outcome: list[Any] = []

    def importer() -> None:
        try:
            outcome.append(do_import(session_factory, path, CITY, "recognize_innovative", apply=True)[0])
        except BaseException as exc:  # reported below
            outcome.append(exc)

    thread = threading.Thread(target=importer, name="importer")
    _amend_while_it_waits(session_factory, engine, held, thread, outcome)
    thread.join(timeout=30)
    [summary] = outcome
    assert not isinstance(summary, BaseException), summary
    assert (summary.applied, summary.ok) == (True, 2)
    _, amended, recognized = events(session_factory, held)
    assert (amended.kind, recognized.trigger, recognized.seq) == ("amendment", "recognize_innovative", 3)
    assert recognized.prev_hash == amended.hash
    with unit_of_work(session_factory) as session:
        assert verify(session, uscc=held).problems == []
        assert verify(session, uscc=free).problems == []
