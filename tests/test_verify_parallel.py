"""``pipeline audit verify`` shares the firms among worker processes that all read one snapshot: the report
is the one a single process finds — the same problems, in the same order — and a write made meanwhile is
not seen by any worker."""

from __future__ import annotations

import pytest
from helpers import Factory, make_uscc, walk
from sqlalchemy import Engine, text
from test_verify_tamper import ROAD, tampering

from pipeline.cli import main
from pipeline.history import verify


@pytest.fixture
def tampered(engine: Engine, session_factory: Factory) -> list[str]:
    """Seven firms, four of them tampered with in different ways."""
    codes = [make_uscc("410106", n) for n in range(1, 8)]
    for uscc in codes:
        walk(session_factory, uscc, ROAD)
    with tampering(engine) as connection:
        connection.execute(text("UPDATE events SET reason = '篡改' WHERE uscc = :u AND seq = 2"), {"u": codes[0]})
        connection.execute(text("DELETE FROM events WHERE uscc = :u AND seq = 3"), {"u": codes[2]})
        connection.execute(text("UPDATE enterprises SET state = 'national' WHERE uscc = :u"), {"u": codes[4]})
        connection.execute(text("UPDATE events SET evidence = '{\"x\": 1.5}' WHERE uscc = :u AND seq = 4"),
                           {"u": codes[6]})
    return codes


def test_workers_find_what_one_process_finds_in_the_same_order(engine: Engine, session_factory: Factory,
                                                               tampered: list[str]) -> None:
    with session_factory() as session:
        serial = verify.verify(session)
        assert verify.firm_ranges(session, size=2) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert not serial.ok
    assert {p.uscc for p in serial.problems} == {tampered[0], tampered[2], tampered[4], tampered[6]}
    seen: list[tuple[int, int]] = []
    parallel = verify.verify_parallel(engine, workers=2, range_size=2,
                                      on_progress=lambda done, total: seen.append((done, total)))
    assert parallel.as_dict() == serial.as_dict()
    assert (parallel.firms_checked, parallel.events_checked) == (7, 27)
    assert seen[-1] == (7, 7)
    with session_factory() as session:  # ranges of one firm each, in one process: the same report
        assert verify.verify(session, range_size=1).as_dict() == serial.as_dict()


def test_the_cli_takes_workers_and_reports_the_same(database_url: str, tampered: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", database_url, "audit", "verify", "--workers", "1"]) == 1
    one = capsys.readouterr().out
    assert main(["--database-url", database_url, "audit", "verify", "--workers", "2"]) == 1
    assert capsys.readouterr().out == one
    assert main(["--database-url", database_url, "audit", "verify", "--workers", "0"]) != 0
    assert "--workers" in capsys.readouterr().err


def test_workers_read_the_snapshot_taken_when_verification_began(engine: Engine, session_factory: Factory,
                                                                  dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("SQLite is verified in one process")
    codes = [make_uscc("410106", n) for n in range(1, 4)]
    for uscc in codes:
        walk(session_factory, uscc, ROAD[:2])
    progress: list[int] = []

    def tamper_after_the_first_range(done: int, total: int) -> None:
        progress.append(done)
        if len(progress) == 1:  # later ranges are read by workers that imported the snapshot before this
            with tampering(engine) as connection:
                connection.execute(text("UPDATE events SET reason = '篡改' WHERE uscc IN (:a, :b, :c)"),
                                   {"a": codes[0], "b": codes[1], "c": codes[2]})

    report = verify.verify_parallel(engine, workers=2, range_size=1, on_progress=tamper_after_the_first_range)
    assert report.ok, report.problems
    with session_factory() as session:  # the tampering was real: a new verification sees it
        assert not verify.verify(session).ok

