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


def test_rows_come_back_as_session_execute_gives_them(session_factory: sessionmaker[Session], dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("the driver path is PostgreSQL's; SQLite goes through session.execute")
    code = make_uscc(serial=1)
    enroll(session_factory, code)
    table = Enterprise.__table__
    query = select(table.c.uscc, table.c.data, table.c.created_at, table.c.last_effective_date, table.c.version
                   ).where(table.c.uscc == code)
    with session_factory() as session:
        expected = session.execute(query).one()
        statement = driver_statement(query, session.get_bind().dialect)
        (row,) = statement.execute(session, {})
    assert tuple(row) == tuple(expected)
    assert row.created_at.tzinfo is dt.UTC  # UTCDateTime's result processing ran
    assert row.uscc == code
    assert row.version == expected.version


def test_errors_are_sqlalchemys_and_listeners_see_the_statement(session_factory: sessionmaker[Session],
                                                                engine: Engine, dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("the driver path is PostgreSQL's; SQLite goes through session.execute")
    code = make_uscc(serial=2)
    enroll(session_factory, code)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    duplicate = insert(Enterprise.__table__).values(
        uscc=code, name="重复", region_code="410106", state="reserve", version=0, last_seq=0, data={}, flags={},
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


def test_pending_orm_changes_are_flushed_first(session_factory: sessionmaker[Session], dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("the driver path is PostgreSQL's; SQLite goes through session.execute")
    code = make_uscc(serial=3)
    enroll(session_factory, code)
    table = Enterprise.__table__
    query = select(table.c.name).where(table.c.uscc == code)
    with session_factory() as session, session.begin():
        firm = session.scalars(select(Enterprise).where(Enterprise.uscc == code)).one()
        firm.name = "改名后"
        (row,) = driver_statement(query, session.get_bind().dialect).execute(session, {})
        assert row.name == "改名后"
        session.rollback()
