"""Two sweeps started at once do the work once: the row lock and the re-check under it decide."""

from __future__ import annotations

import threading

import pytest
from helpers import ADMIN, Factory, bring_to, events, load, make_uscc
from sqlalchemy import Engine

from pipeline.dates import parse_date
from pipeline.db import make_session_factory, unit_of_work
from pipeline.dynamic.sweep import SweepReport, sweep

FIRMS = 40


@pytest.mark.postgres_only
def test_two_concurrent_sweeps_write_exactly_one_expire_event_per_firm(
        session_factory: Factory, engine: Engine, dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("row locks between concurrent transactions are PostgreSQL's; SQLite serialises writers")
    firms = [make_uscc("410106", n) for n in range(1, FIRMS + 1)]
    for uscc in firms:
        bring_to(session_factory, uscc, "innovative")  # → 2025-08-31
    as_of = parse_date("2025-09-10", field="as_of")
    start = threading.Barrier(2)
    reports: list[SweepReport] = []
    errors: list[BaseException] = []

    def one_sweep() -> None:
        factory = make_session_factory(engine)  # each its own connections, like a second process
        try:
            start.wait()
            reports.append(sweep(lambda: unit_of_work(factory), as_of, apply=True, requested_by=ADMIN,
                                 batch_size=7))
        except BaseException as exc:  # pragma: no cover — reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r.events for r in reports) == FIRMS  # between them, each firm expired once
    for uscc in firms:
        assert [e.trigger for e in events(session_factory, uscc)].count("expire") == 1
        assert load(session_factory, uscc).state == "reserve"
