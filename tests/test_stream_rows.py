"""A long read streamed (the exports): every row in order, and a read stopped early leaves the session usable;
rows written by COPY as an insert would write them."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import enroll, make_uscc
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import copy_rows, pending_rows, stream_rows
from pipeline.models import Enterprise
from pipeline.models.dynamic import AnnualFiling


def _enroll(factory: sessionmaker[Session], count: int) -> list[str]:
    codes = [make_uscc(serial=n) for n in range(1, count + 1)]
    for code in codes:
        enroll(factory, code)
    return codes


def test_every_row_comes_in_order(session_factory: sessionmaker[Session]) -> None:
    codes = _enroll(session_factory, 30)
    with session_factory() as session:
        rows = list(stream_rows(session, select(Enterprise.uscc, Enterprise.state)
                                .where(Enterprise.state.in_(["reserve", "innovative"]))  # an expanding IN
                                .order_by(Enterprise.uscc), 7))
    assert [tuple(row) for row in rows] == [(code, "reserve") for code in sorted(codes)]


def test_a_read_stopped_early_leaves_the_transaction_usable(session_factory: sessionmaker[Session]) -> None:
    _enroll(session_factory, 30)
    with session_factory() as session, session.begin():
        rows = stream_rows(session, select(Enterprise.uscc).order_by(Enterprise.uscc), 5)
        assert len([next(rows) for _ in range(3)]) == 3
        rows.close()  # the export's writer failed, or its reader went away
        assert session.scalar(select(func.count()).select_from(Enterprise)) == 30
        session.execute(Enterprise.__table__.update().values(name="改名"))
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Enterprise.name == "改名")) == 30


def test_a_serial_read_plans_without_workers_and_puts_the_setting_back(session_factory: sessionmaker[Session],
                                                                      dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("parallel plans are PostgreSQL's")
    _enroll(session_factory, 12)
    setting = select(func.current_setting("max_parallel_workers_per_gather"))
    with session_factory() as session, session.begin():
        before = session.scalar(setting)
        assert before != "0"
        during = [row[1] for row in stream_rows(session, select(Enterprise.uscc, setting.scalar_subquery()), 5,
                                                serial=True)]
        assert during == ["0"] * 12
        assert session.scalar(setting) == before
        rows = stream_rows(session, select(Enterprise.uscc).order_by(Enterprise.uscc), 5, serial=True)
        assert len([next(rows) for _ in range(3)]) == 3
        rows.close()  # stopped early: the savepoint's rollback takes the setting back
        assert session.scalar(setting) == before


def test_copy_rows_stores_none_as_the_column_type_does(session_factory: sessionmaker[Session], dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    enroll(session_factory, make_uscc(serial=1))
    with session_factory() as session, session.begin():
        firm_id = session.scalar(select(Enterprise.id))
        row = {"enterprise_id": firm_id, "filed_on": dt.date(2025, 4, 1), "actor": "p-admin",
               "recorded_at": dt.datetime(2025, 4, 1, tzinfo=dt.UTC), "indicators": None}
        copy_rows(session, AnnualFiling.__table__, [{**row, "year": 2024}, {**row, "year": 2023, "indicators": {}}])
    with session_factory() as session:  # a year filed without indicators is SQL NULL, as an insert stores it
        assert session.execute(select(AnnualFiling.year).where(AnnualFiling.indicators.is_(None))).scalars().all() \
            == [2024]


def test_pending_rows_are_made_on_another_thread_while_the_connection_runs_on(
        session_factory: sessionmaker[Session], dialect: str) -> None:
    """An import's writer thread runs its loads and goes on; the computing thread makes the rows later, while
    the same connection runs the next statements (pipeline.db.PendingRows)."""
    if dialect != "postgresql":
        pytest.skip("the driver's results are PostgreSQL's (psycopg)")
    codes = _enroll(session_factory, 3)
    with session_factory() as session, session.begin():
        pending = pending_rows(session, "SELECT id, uscc FROM enterprises WHERE uscc = ANY(%s) ORDER BY uscc",
                               (codes,))
        ids = [int(value) for value in pending.column(0) if value is not None]
        assert len(pending) == 3
        later = pending_rows(session, "SELECT count(*) FROM enterprises", ())  # the connection runs on
        with ThreadPoolExecutor(max_workers=1) as elsewhere:
            rows = elsewhere.submit(pending.rows).result()
        assert rows == list(zip(ids, sorted(codes), strict=True))
        assert later.rows() == [(3,)]
        assert session.scalar(select(func.count()).select_from(Enterprise)) == 3
