"""An import meeting a concurrent writer of the same new firm: on PostgreSQL its bulk insert waits for the other
transaction and then refuses with a conflict to retry (nothing of the import written); SQLite serialises the two,
so the import finds the firm and leaves it unchanged."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from helpers import ADMIN, CITY, Factory, events, make_uscc
from imports_support import do_import, write_csv

from pipeline.dates import business_today
from pipeline.db import unit_of_work
from pipeline.errors import Conflict
from pipeline.firms import service
from pipeline.imports import ImportSummary

A, B = make_uscc("410106", 71), make_uscc("410106", 72)


def test_a_firm_enrolled_meanwhile_is_a_conflict_or_unchanged(session_factory: Factory, dialect: str,
                                                               tmp_path: Path) -> None:
    path = write_csv(tmp_path / "培育库.csv", [(1, B, "乙公司", "", "2025-01-10", ""),
                                               (2, A, "甲公司", "", "2025-01-10", "")])
    outcome: list[ImportSummary | BaseException] = []

    def importer() -> None:
        try:
            outcome.append(do_import(session_factory, path, CITY, "enroll", apply=True)[0])
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    with unit_of_work(session_factory) as session:
        service.enroll(session, uscc=A, name="甲公司", actor=ADMIN, effective_date=business_today())
        thread = threading.Thread(target=importer)
        thread.start()
        time.sleep(1.0)  # the import reads before this commits (PostgreSQL) or waits at BEGIN (SQLite)
    thread.join(timeout=30)
    [result] = outcome
    if dialect == "postgresql":
        assert isinstance(result, Conflict)
        assert "run it again" in result.detail
        assert events(session_factory, B) == []
        summary, _ = do_import(session_factory, path, CITY, "enroll", apply=True)  # the retry
        assert (summary.applied, summary.ok, summary.unchanged) == (True, 1, 1)
    else:
        assert not isinstance(result, BaseException)
        assert (result.applied, result.ok, result.unchanged) == (True, 1, 1)
    assert len(events(session_factory, A)) == 1
    assert len(events(session_factory, B)) == 1

