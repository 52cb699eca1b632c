"""The stored flags: the sweep's refresh sets and clears ``annual_data_overdue`` as the calendar moves;
deadlines and reporting windows follow the rulebook in force."""

from __future__ import annotations

import datetime as dt

from helpers import ADMIN, Factory, bring_to, load, make_uscc, walk

from pipeline.db import unit_of_work
from pipeline.dynamic import obligations
from pipeline.dynamic.obligations import ANNUAL_DATA_OVERDUE, annual_deadline, change_report_due, latest_closed_year


def test_deadlines_and_windows_come_from_the_rulebook_in_force() -> None:
    assert annual_deadline(2024) == dt.date(2025, 4, 30)  # miit-2022: 30 April of the following year
    assert annual_deadline(2025) == dt.date(2026, 5, 31)  # miit-2026 (in force 2026-04-01): 31 May
    assert latest_closed_year(dt.date(2026, 5, 31)) == 2024
    assert latest_closed_year(dt.date(2026, 6, 1)) == 2025
    assert change_report_due(dt.date(2025, 11, 30)) == dt.date(2026, 2, 28)
    assert change_report_due(dt.date(2025, 1, 15)) == dt.date(2025, 4, 15)


def refresh(factory: Factory, on: str) -> tuple[int, int]:
    with unit_of_work(factory) as session:
        return obligations.refresh_annual_flags(session, dt.date.fromisoformat(on))


def test_the_refresh_flags_bound_firms_without_an_on_time_filing_and_clears_them_later(
        session_factory: Factory) -> None:
    bound, filed, untitled = make_uscc("410106", 1), make_uscc("410106", 2), make_uscc("410106", 3)
    for uscc in (bound, filed):
        walk(session_factory, uscc, [("enroll", "2024-06-01"), ("recognize_innovative", "2024-06-01")])
    bring_to(session_factory, untitled, "reserve")
    with unit_of_work(session_factory) as session:
        obligations.record_filing(session, filed, year=2024, filed_on=dt.date(2025, 4, 1), actor=ADMIN)
        obligations.record_filing(session, filed, year=2025, filed_on=dt.date(2026, 5, 20), actor=ADMIN)

    assert refresh(session_factory, "2025-04-30") == (0, 0)  # the deadline day itself is still in time
    assert refresh(session_factory, "2025-05-01") == (1, 0)
    assert load(session_factory, bound).flags[ANNUAL_DATA_OVERDUE] == {
        "year": 2024, "deadline": "2025-04-30", "filed_on": None}
    assert ANNUAL_DATA_OVERDUE not in load(session_factory, filed).flags
    assert ANNUAL_DATA_OVERDUE not in load(session_factory, untitled).flags
    assert refresh(session_factory, "2025-05-02") == (0, 0)  # nothing to change: a repeated run writes nothing

    with unit_of_work(session_factory) as session:  # flags are recomputed for today on each filing
        obligations.record_filing(session, bound, year=2025, filed_on=dt.date(2026, 5, 20), actor=ADMIN)
    assert ANNUAL_DATA_OVERDUE not in load(session_factory, bound).flags
    assert refresh(session_factory, "2026-06-01") == (0, 0)
    assert refresh(session_factory, "2025-05-01") == (1, 0)  # back on a day 2024's data was overdue
    assert refresh(session_factory, "2026-06-01") == (0, 1)  # and the next deadline, met, clears it
    assert ANNUAL_DATA_OVERDUE not in load(session_factory, bound).flags
