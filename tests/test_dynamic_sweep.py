"""The expiry sweep: what it expires, on which date, where firms land, and that a second run does nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import ADMIN, CITY, Factory, bring_to, day, events, fire, load, make_uscc, walk

from pipeline.access import SYSTEM, Actor
from pipeline.dates import business_today
from pipeline.db import unit_of_work
from pipeline.dynamic.sweep import SweepItem, SweepReport, sweep
from pipeline.errors import Forbidden, InvalidInput
from pipeline.firms import service


def run(factory: Factory, as_of: str, *, apply: bool, batch_size: int = 2,
        requested_by: Actor = ADMIN) -> tuple[list[SweepItem], SweepReport]:
    items: list[SweepItem] = []
    report = sweep(lambda: unit_of_work(factory), day(as_of), apply=apply, requested_by=requested_by,
                   batch_size=batch_size, on_item=items.append)
    return items, report


def test_dry_run_reports_exactly_what_apply_then_does(session_factory: Factory) -> None:
    national, provincial, valid = make_uscc("410106", 1), make_uscc("410106", 2), make_uscc("410106", 3)
    bring_to(session_factory, national, "national")      # national → 2025-10-31, provincial → 2025-09-30
    bring_to(session_factory, provincial, "provincial")
    walk(session_factory, valid, [("enroll", "2024-01-01"), ("recognize_innovative", "2024-01-01")])  # → 2026-12-31

    planned, _dry = run(session_factory, "2025-10-15", apply=False)
    assert [(i.uscc, i.tier, i.from_state, i.to_state, i.effective_date) for i in planned] == [
        (provincial, "provincial", "provincial", "reserve", dt.date(2025, 10, 1)),
    ]
    assert load(session_factory, provincial).state == "provincial"  # nothing written
    assert len(events(session_factory, provincial)) == 3

    applied, report = run(session_factory, "2025-10-15", apply=True)
    assert [(i.uscc, i.from_state, i.to_state, i.effective_date, i.ended_titles) for i in applied] == [
        (p.uscc, p.from_state, p.to_state, p.effective_date, p.ended_titles) for p in planned]
    assert report.by_tier == {"provincial": 1}
    firm = load(session_factory, provincial)
    assert firm.state == "reserve"
    assert {t.tier: (t.ended_on, t.end_reason) for t in firm.recognitions} == {
        "innovative": (dt.date(2025, 10, 1), "expired"), "provincial": (dt.date(2025, 10, 1), "expired")}
    last = events(session_factory, provincial)[-1]
    assert (last.trigger, last.actor, last.reason_code, last.effective_date) == (
        "expire", SYSTEM.id, "expired", dt.date(2025, 10, 1))
    assert last.evidence["source"] == {"sweep": {"as_of": "2025-10-15", "requested_by": ADMIN.id}}
    assert load(session_factory, national).state == "national"  # valid until 2025-10-31
    assert load(session_factory, valid).state == "innovative"


def test_a_title_ending_on_the_sweep_date_is_still_valid_that_day(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 4)
    bring_to(session_factory, uscc, "innovative")  # → 2025-08-31
    assert run(session_factory, "2025-08-31", apply=True)[0] == []
    [item], _ = run(session_factory, "2025-09-01", apply=True)
    assert (item.valid_until, item.effective_date, item.to_state) == (dt.date(2025, 8, 31), dt.date(2025, 9, 1),
                                                                      "reserve")


def test_running_the_same_sweep_twice_changes_nothing_the_second_time(session_factory: Factory) -> None:
    firms = [make_uscc("410106", n) for n in range(10, 15)]
    for uscc in firms:
        bring_to(session_factory, uscc, "national")
    first, report = run(session_factory, "2026-01-05", apply=True)
    assert len(first) == 5
    assert report.by_tier == {"national": 5}
    before = [(len(events(session_factory, u)), load(session_factory, u).version) for u in firms]
    second, again = run(session_factory, "2026-01-05", apply=True)
    assert second == []
    assert again.candidates == 0
    assert [(len(events(session_factory, u)), load(session_factory, u).version) for u in firms] == before
    for uscc in firms:
        assert load(session_factory, uscc).state == "reserve"  # every lower title had lapsed in 2025


def test_a_landing_title_that_lapsed_too_expires_in_a_second_event(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 5)
    bring_to(session_factory, uscc, "provincial")  # innovative → 2025-08-31, provincial → 2025-09-30
    fire(session_factory, uscc, "recognize_national", "2023-01-10",
         evidence={"document_no": "工信厅企业函〔2023〕1号", "valid_until": "2024-05-31"})
    planned, _ = run(session_factory, "2025-10-15", apply=False)
    applied, report = run(session_factory, "2025-10-15", apply=True)
    expected = [("national", "provincial", dt.date(2024, 6, 1), ("national",)),
                ("provincial", "reserve", dt.date(2025, 10, 1), ("innovative", "provincial"))]
    assert [(i.from_state, i.to_state, i.effective_date, i.ended_titles) for i in planned] == expected
    assert [(i.from_state, i.to_state, i.effective_date, i.ended_titles) for i in applied] == expected
    assert report.firms_expired == 1
    assert report.by_tier == {"national": 1, "provincial": 1}
    assert [e.trigger for e in events(session_factory, uscc)][-2:] == ["expire", "expire"]
    assert load(session_factory, uscc).state == "reserve"


def test_an_amendment_after_the_lapse_does_not_postpone_the_expiry(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 6)
    bring_to(session_factory, uscc, "innovative")  # → 2025-08-31
    with unit_of_work(session_factory) as session:  # a rename, dated today, after the lapse: no state change
        service.amend(session, uscc, changes={"name": "改名后的企业"}, actor=ADMIN)
    [item], report = run(session_factory, "2025-12-01", apply=True)
    assert report.skipped == []
    assert (item.effective_date, item.valid_until) == (dt.date(2025, 9, 1), dt.date(2025, 8, 31))


def test_sweep_refuses_a_future_date_and_applying_needs_the_expire_permission(session_factory: Factory) -> None:
    with pytest.raises(InvalidInput, match="future"):
        run(session_factory, (business_today() + dt.timedelta(days=3)).isoformat(), apply=False)
    with pytest.raises(Forbidden):
        run(session_factory, "2025-10-15", apply=True, requested_by=CITY)
    assert run(session_factory, "2025-10-15", apply=False, requested_by=CITY)[0] == []
