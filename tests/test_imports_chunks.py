"""A file longer than one chunk: earlier chunks are already written in bulk when a later one meets a problem,
and the file must still be all or nothing, with duplicates found across chunks."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path
from typing import Any

import pytest
from helpers import CITY, Factory, events, make_uscc
from imports_support import bad_check, by_row, do_import, write_csv
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.imports import bulk, engine
from pipeline.imports.engine import ImportOptions, run_import
from pipeline.imports.reading import ImportFile
from pipeline.models import Enterprise, Event, Recognition

CODES = [make_uscc("410106", n) for n in range(61, 68)]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "CHUNK_ROWS", 2)


def _counts(factory: Factory) -> tuple[int, int, int]:
    with factory() as session:
        return tuple(int(session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[return-value]
                     for table in (Enterprise, Event, Recognition))


def test_a_bad_row_in_the_last_chunk_undoes_the_chunks_written_before_it(
        session_factory: Factory, tmp_path: Path) -> None:
    rows = [(n, code, f"企业{n}", "", "2025-01-10", "") for n, code in enumerate(CODES[:5], start=1)]
    rows.append((6, bad_check(CODES[5]), "企业6", "", "2025-01-10", ""))
    summary, report = do_import(session_factory, write_csv(tmp_path / "l.csv", rows), CITY, "enroll", apply=True)
    assert not summary.applied
    assert [r.status for r in report] == ["ok"] * 5 + ["problem"]
    assert _counts(session_factory) == (0, 0, 0)


def test_a_firm_repeated_in_a_later_chunk_is_a_duplicate_of_its_first_row(
        session_factory: Factory, tmp_path: Path) -> None:
    # Chunks of two: 甲 again in the next chunk (its first chunk may still be being written) and two later.
    rows = [(1, CODES[0], "甲", "", "2025-01-10", ""), (2, CODES[1], "乙", "", "2025-01-10", ""),
            (3, CODES[2], "丙", "", "2025-01-10", ""), (4, CODES[0], "甲", "", "2025-01-10", ""),
            (5, CODES[3], "丁", "", "2025-01-10", ""), (6, CODES[4], "戊", "", "2025-01-10", ""),
            (7, CODES[1], "乙", "", "2025-01-10", "")]
    _, report = do_import(session_factory, write_csv(tmp_path / "l.csv", rows), CITY, "enroll")
    assert "duplicate of row 3" in (by_row(report)[6].problem or "")
    assert "duplicate of row 4" in (by_row(report)[9].problem or "")
    assert [r.status for r in report] == ["ok", "ok", "ok", "problem", "ok", "ok", "problem"]


def test_recognitions_over_several_chunks_are_all_written(session_factory: Factory, tmp_path: Path) -> None:
    enrol = [(n, code, f"企业{n}", "", "2025-01-10", "") for n, code in enumerate(CODES, start=1)]
    do_import(session_factory, write_csv(tmp_path / "e.csv", enrol), CITY, "enroll", apply=True)
    recognise = [(n, code, f"企业{n}", "", "2025-03-01", f"文号{n}") for n, code in enumerate(CODES, start=1)]
    summary, _ = do_import(session_factory, write_csv(tmp_path / "r.csv", recognise), CITY, "recognize_innovative",
                           apply=True)
    assert summary.applied
    assert _counts(session_factory) == (7, 14, 7)
    for n, code in enumerate(CODES, start=1):
        first, second = events(session_factory, code)
        assert (second.trigger, second.seq, second.prev_hash) == ("recognize_innovative", 2, first.hash)
        assert second.evidence["document_no"] == f"文号{n}"


def test_new_firms_across_chunks_each_get_their_own_id_and_their_events_carry_it(
        session_factory: Factory, tmp_path: Path) -> None:
    """New firms' ids are drawn ahead, as each chunk's loads find which of its codes are new; a chunk whose codes
    are partly known leaves ids over, which the next chunk's new firms take. Whatever the draw, every firm has its
    own id and its enroll event names that id."""
    do_import(session_factory, write_csv(tmp_path / "a.csv", [(1, CODES[1], "乙", "", "2025-01-10", ""),
                                                              (2, CODES[4], "戊", "", "2025-01-10", "")]),
              CITY, "enroll", apply=True)
    rows = [(n, code, f"企业{n}", "", "2025-01-10", "") for n, code in enumerate(CODES, start=1)]
    summary, report = do_import(session_factory, write_csv(tmp_path / "b.csv", rows), CITY, "enroll", apply=True)
    assert summary.applied
    assert [r.status for r in report] == ["ok", "unchanged", "ok", "ok", "unchanged", "ok", "ok"]
    with session_factory() as session:
        firms = {code: firm_id for code, firm_id in session.execute(select(Enterprise.uscc, Enterprise.id))}
        owners = [(code, owner) for code, owner in session.execute(select(Event.uscc, Event.enterprise_id))]
    assert sorted(firms) == sorted(CODES)
    assert len(set(firms.values())) == 7
    assert all(firms[code] == owner for code, owner in owners)


def test_the_chunk_update_arrays_read_back_as_the_values_themselves(session_factory: sessionmaker[Session],
                                                                    dialect: str) -> None:
    """The firm and title UPDATEs' columns go as array literals made on the computing thread (bulk._array_texts):
    PostgreSQL must read back exactly the values a list of them would have sent."""
    if dialect != "postgresql":
        pytest.skip("the UPDATE … FROM unnest(…) arrays are PostgreSQL's")
    shanghai = dt.timezone(dt.timedelta(hours=8))
    columns = (
        ("bigint", [1, -7, 9_007_199_254_740_993, None]),
        ("varchar", ["innovative", 'say "hi"', "back\\slash", "NULL", "", "a,b {c} d", "提前终止", None]),
        ("date", [dt.date(2025, 6, 1), None, dt.date(1, 1, 1), dt.date(9999, 12, 31)]),
        ("timestamptz", [dt.datetime(2026, 11, 28, 4, 24, 45, 941968, tzinfo=dt.UTC),
                         dt.datetime(2026, 11, 28, 12, 0, tzinfo=shanghai), None]),
        ("int", [None, None]),
    )
    with session_factory() as session:
        driver: Any = session.connection().connection.driver_connection
        cursor = driver.cursor()
        for kind, values in columns:
            (text,) = bulk._array_texts([(value,) for value in values], 1)
            from_text = cursor.execute(f"SELECT %s::{kind}[]", (text,)).fetchone()[0]
            from_list = cursor.execute(f"SELECT %s::{kind}[]", (values,)).fetchone()[0]
            assert from_text == from_list == values, kind


def test_the_chunk_writes_run_with_the_bulk_plans_which_are_put_back_after_the_import(
        session_factory: sessionmaker[Session], dialect: str, tmp_path: Path) -> None:
    """The writes of every chunk run with the settings of pipeline.db.bulk_write_plans (SET LOCAL, once for the
    import's chunks); what the caller does after the import has the session's own again."""
    if dialect != "postgresql":
        pytest.skip("SET LOCAL of the planner settings is PostgreSQL's")
    enrol = [(n, code, f"企业{n}", "", "2025-01-10", "") for n, code in enumerate(CODES, start=1)]
    recognise = [(n, code, f"企业{n}", "", "2025-03-01", f"文号{n}") for n, code in enumerate(CODES, start=1)]
    names = ("plan_cache_mode", "enable_hashjoin", "enable_mergejoin")
    settings = "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
    seen: list[tuple[str, ...]] = []
    written = bulk._PostgresJob.run

    def run(job: Any, connection: Any, planned: bool = False) -> None:
        written(job, connection, planned)
        seen.append(connection.execute(settings).fetchone())  # the same transaction, as the writes saw it

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk._PostgresJob, "run", run)
        for path, action in ((write_csv(tmp_path / "e.csv", enrol), "enroll"),
                             (write_csv(tmp_path / "r.csv", recognise), "recognize_innovative")):
            with session_factory() as session, session.begin(), path.open("rb") as stream:
                before = session.connection().exec_driver_sql(settings).one()
                summary = run_import(session, ImportFile(stream, path.name), ImportOptions(action=action), CITY,
                                     apply=True, sink=lambda _: None)
                assert summary.applied
                assert session.connection().exec_driver_sql(settings).one() == before
                assert before[0] == "force_custom_plan"
    assert len(seen) == 8  # four chunks of two rows, each import
    assert set(seen) == {("auto", "off", "off")}


def test_the_collector_is_quieter_during_an_import_and_as_it_was_after(session_factory: Factory,
                                                                       tmp_path: Path) -> None:
    """The heap from before the import is frozen out of the collector's passes and young collections wait
    longer, while it runs (engine._quiet_collector); the process's own settings are back once it ends."""
    rows = [(n, code, f"企业{n}", "", "2025-01-10", "") for n, code in enumerate(CODES[:3], start=1)]
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    during: list[tuple[tuple[int, int, int], int]] = []
    with session_factory() as session, session.begin(), write_csv(tmp_path / "l.csv", rows).open("rb") as stream:
        summary = run_import(session, ImportFile(stream, "l.csv"), ImportOptions(action="enroll"), CITY, apply=True,
                             sink=lambda _: during.append((gc.get_threshold(), gc.get_freeze_count())))
    assert summary.applied
    assert len(during) == 3
    for young, frozen_during in during:
        assert young[0] == max(threshold[0], engine.YOUNG_COLLECTION_ALLOCATIONS)
        assert young[1:] == threshold[1:]
        assert frozen_during > frozen
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
