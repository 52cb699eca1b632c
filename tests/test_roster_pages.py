"""The whole-province roster reads a page in one pass, stopping after the page's firms; when firms hold more
titles than a page reads per firm, pages come out shorter but the keyset walk still yields every firm once,
with every title it holds, in order."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import ADMIN, CITY, Factory, bring_to, make_uscc
from sqlalchemy import insert, select

from pipeline.history import timetravel
from pipeline.models import Enterprise, Recognition

DAY = dt.date(2025, 1, 15)


def walk_pages(factory: Factory, limit: int, **filters: str) -> list[tuple[str, list[str]]]:
    seen: list[tuple[str, list[str]]] = []
    after = 0
    with factory() as session:
        while True:
            entries, more = timetravel.roster(session, ADMIN, as_of=DAY, after_id=after, limit=limit,
                                              **filters)  # type: ignore[arg-type]
            assert len(entries) <= limit
            seen.extend((e.uscc, [t.tier for t in e.titles]) for e in entries)
            if not more:
                return seen
            assert entries, "a page that says more follow names at least one firm"
            after = entries[-1].enterprise_id


@pytest.fixture
def province(session_factory: Factory) -> list[str]:
    states = ["innovative", "national", "reserve", "provincial", "innovative", "national", "provincial"]
    codes = [make_uscc("410106" if n % 2 else "410302", n) for n in range(1, len(states) + 1)]
    for uscc, state in zip(codes, states, strict=True):
        bring_to(session_factory, uscc, state)
    with session_factory.begin() as session:  # one firm holding five titles on the day (a backfilled history)
        firm_id = session.scalar(select(Enterprise.id).where(Enterprise.uscc == codes[0]))
        session.execute(insert(Recognition), [
            {"enterprise_id": firm_id, "tier": "innovative", "recognized_on": dt.date(2024, 1, n),
             "valid_until": dt.date(2026, 1, 1), "granted_by_seq": 1} for n in range(1, 5)])
    return codes


def test_short_pages_still_walk_every_firm_with_all_its_titles(session_factory: Factory, province: list[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    whole = walk_pages(session_factory, 1000)
    assert [uscc for uscc, _ in whole] == [c for c in province if c != province[2]]  # the reserve firm holds none
    assert dict(whole)[province[0]] == ["innovative"] * 5
    assert dict(whole)[province[1]] == ["innovative", "provincial", "national"]
    for rows_per_firm in (1, 2, 3):
        monkeypatch.setattr(timetravel, "ROWS_PER_FIRM", rows_per_firm)
        for limit in (1, 2, 3, 5):
            assert walk_pages(session_factory, limit) == whole, (rows_per_firm, limit)
        assert walk_pages(session_factory, 2, tier="provincial") == [
            (uscc, ["provincial"]) for uscc, tiers in whole if "provincial" in tiers]
        assert walk_pages(session_factory, 2, region="410302") == [
            (uscc, tiers) for uscc, tiers in whole if uscc[2:8] == "410302"]


def test_a_city_official_pages_through_their_city_only(session_factory: Factory, province: list[str]) -> None:
    with session_factory() as session:
        entries, more = timetravel.roster(session, CITY, as_of=DAY, limit=100)
    assert not more
    assert {e.uscc for e in entries} == {c for c in province if CITY.covers(c[2:8])} - {province[2]}
