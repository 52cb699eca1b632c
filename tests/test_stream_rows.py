"""A long read streamed (the exports): every row in order, and a read stopped early leaves the session usable."""

from __future__ import annotations

from helpers import enroll, make_uscc
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import stream_rows
from pipeline.models import Enterprise


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
