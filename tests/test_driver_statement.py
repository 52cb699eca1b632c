"""The hot path's statements run on the driver (:class:`pipeline.db.DriverStatement`) and behave as
``session.execute`` would: the same rows through the columns' types, SQLAlchemy's errors, pending ORM changes
flushed first, statement listeners still told."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from helpers import enroll, make_uscc
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import driver_statement
from pipeline.models import Enterprise

TABLE = Enterprise.__table__


@pytest.fixture
def firm(session_factory: sessionmaker[Session], dialect: str) -> str:
    """A firm enrolled for the test (PostgreSQL only: SQLite's hot path goes through session.execute)."""
    if dialect != "postgresql":
        pytest.skip("the driver path is PostgreSQL's; SQLite goes through session.execute")
    code = make_uscc(serial=1)
    enroll(session_factory, code)
    return code


def test_rows_come_back_as_session_execute_gives_them(session_factory: sessionmaker[Session], firm: str) -> None:
    query = select(TABLE.c.uscc, TABLE.c.data, TABLE.c.created_at, TABLE.c.last_effective_date, TABLE.c.version
                   ).where(TABLE.c.uscc == firm)
    with session_factory() as session:
        expected = session.execute(query).one()
        statement = driver_statement(query, session.get_bind().dialect)
        (row,) = statement.execute(session, {})
    assert tuple(row) == tuple(expected)
    assert row.created_at.tzinfo is dt.UTC  # UTCDateTime's result processing ran
    assert row.uscc == firm
    assert row.version == expected.version


def test_errors_are_sqlalchemys_and_listeners_see_the_statement(session_factory: sessionmaker[Session],
                                                                engine: Engine, firm: str) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    duplicate = insert(TABLE).values(
        uscc=firm, name="重复", region_code="410106", state="reserve", version=0, last_seq=0, data={}, flags={},
        created_at=now, updated_at=now)
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        with session_factory() as session, pytest.raises(IntegrityError):
            driver_statement(duplicate, session.get_bind().dialect).execute(session, {})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert any(statement.startswith("INSERT INTO enterprises") for statement in seen)


def test_pending_orm_changes_are_flushed_first(session_factory: sessionmaker[Session], firm: str) -> None:
    query = select(TABLE.c.name).where(TABLE.c.uscc == firm)
    with session_factory() as session, session.begin():
        session.scalars(select(Enterprise).where(Enterprise.uscc == firm)).one().name = "改名后"
        (row,) = driver_statement(query, session.get_bind().dialect).execute(session, {})
        assert row.name == "改名后"
        session.rollback()
