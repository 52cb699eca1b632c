"""Point in time: what was true on a date (effective dates) versus what the system said at a time (recorded
times); the roster and counts of a date; replay equals the stored firm."""

from __future__ import annotations

import datetime as dt

from helpers import ADMIN, CITY, Factory, enroll, fire, load, make_uscc, walk
from sqlalchemy import select

from pipeline.dates import utc_now
from pipeline.db import unit_of_work
from pipeline.history import timetravel
from pipeline.history.replay import replay
from pipeline.models import Enterprise, Event

D = dt.date.fromisoformat


def _state(factory: Factory, uscc: str, as_of: str,
           known_at: dt.datetime | None = None) -> tuple[str | None, list[str]]:
    with factory() as session:
        firm = session.scalars(select(Enterprise).where(Enterprise.uscc == uscc)).one()
        replayed = timetravel.firm_at(session, firm, as_of=D(as_of), known_at=known_at)
        return replayed.state, [t.tier for t in replayed.titles_on(D(as_of))]


def test_a_decision_keyed_in_late_changes_the_past_only_from_when_it_was_recorded(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 1)
    enroll(session_factory, uscc, "2024-01-02")
    before_keying = utc_now()
    # The recognition was decided on 2024-03-01 but typed in only now.
    fire(session_factory, uscc, "recognize_innovative", "2024-03-01")

    assert _state(session_factory, uscc, "2024-06-01", known_at=before_keying) == ("reserve", [])
    assert _state(session_factory, uscc, "2024-06-01") == ("innovative", ["innovative"])
    assert _state(session_factory, uscc, "2024-02-01") == ("reserve", [])
    assert _state(session_factory, uscc, "2024-01-01") == (None, [])  # not yet enrolled on that date

    with session_factory() as session:
        early, _ = timetravel.roster(session, ADMIN, as_of=D("2024-06-01"), known_at=before_keying)
        late, _ = timetravel.roster(session, ADMIN, as_of=D("2024-06-01"))
    assert early == []
    assert [e.uscc for e in late] == [uscc]


def test_replay_of_the_events_equals_the_stored_firm(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 2)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"),
                                 ("recognize_provincial", "2022-10-01"), ("renew", "2025-09-01"),
                                 ("revoke", "2025-10-01"), ("remove", "2025-11-01")])
    with session_factory() as session:
        firm = session.scalars(select(Enterprise).where(Enterprise.uscc == uscc)).one()
        events = list(session.scalars(select(Event).where(Event.uscc == uscc).order_by(Event.seq)))
        replayed = replay(events)
        expected = ("removed", D("2028-10-01"))
        assert (replayed.state, replayed.barred_until) == (firm.state, firm.barred_until) == expected
        stored = sorted((t.tier, t.recognized_on, t.valid_until, t.ended_on, t.end_reason)
                        for t in firm.recognitions)
        again = sorted((t.tier, t.recognized_on, t.valid_until, t.ended_on, t.end_reason)
                       for t in replayed.recognitions)
        assert stored == again
        assert len(stored) == 3
        assert replay(events, as_of=D("2025-09-15")).state == "provincial"


def test_roster_pages_by_firm_and_filters_by_tier_region_and_jurisdiction(session_factory: Factory) -> None:
    shangjie = [make_uscc("410106", n) for n in range(1, 4)]
    sanmenxia = make_uscc("411200", 9)
    for uscc in [*shangjie, sanmenxia]:
        walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")])
    fire(session_factory, shangjie[0], "recognize_provincial", "2023-01-10")
    with session_factory() as session:
        first, more = timetravel.roster(session, ADMIN, as_of=D("2023-06-01"), limit=2)
        rest, more_again = timetravel.roster(session, ADMIN, as_of=D("2023-06-01"), limit=2,
                                             after_id=first[-1].enterprise_id)
        assert more
        assert not more_again
        assert [e.uscc for e in first + rest] == [*shangjie, sanmenxia]
        assert first[0].highest_tier == "provincial"
        provincial, _ = timetravel.roster(session, ADMIN, as_of=D("2023-06-01"), tier="provincial")
        assert [e.uscc for e in provincial] == [shangjie[0]]
        assert timetravel.roster(session, ADMIN, as_of=D("2023-01-09"), tier="provincial")[0] == []
        in_city, _ = timetravel.roster(session, CITY, as_of=D("2023-06-01"))
        assert sanmenxia not in [e.uscc for e in in_city]
        assert len(in_city) == 3
        smx, _ = timetravel.roster(session, ADMIN, as_of=D("2023-06-01"), region="411200")
        assert [e.uscc for e in smx] == [sanmenxia]
        assert timetravel.roster(session, ADMIN, as_of=D("2026-02-01"))[0] == []  # every title lapsed


def test_counts_per_state_and_region_level_on_a_date(session_factory: Factory) -> None:
    a, b, c = make_uscc("410106", 1), make_uscc("410106", 2), make_uscc("411200", 3)
    walk(session_factory, a, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"),
                              ("recognize_provincial", "2023-01-10")])
    walk(session_factory, b, [("enroll", "2022-09-01"), ("revoke", "2023-02-01")])
    enroll(session_factory, c, "2023-03-01")
    with session_factory() as session:
        rows = {(r.level, r.region_code): r for r in timetravel.counts(session, ADMIN, as_of=D("2023-01-31"))}
        assert rows[("province", "410000")].states == {"provincial": 1, "reserve": 1}
        assert rows[("province", "410000")].titles == {"innovative": 1, "provincial": 1}
        assert rows[("district", "410106")].states == {"provincial": 1, "reserve": 1}
        assert ("city", "411200") not in rows  # c was not enrolled yet
        later = {(r.level, r.region_code): r for r in timetravel.counts(session, ADMIN, as_of=D("2023-06-01"))}
        assert later[("city", "410100")].states == {"provincial": 1, "revoked": 1}
        assert later[("city", "411200")].states == {"reserve": 1}
        assert later[("province", "410000")].states == {"provincial": 1, "revoked": 1, "reserve": 1}
        scoped = timetravel.counts(session, CITY, as_of=D("2023-06-01"))
        assert {r.region_code for r in scoped} == {"410000", "410100", "410106"}
    assert load(session_factory, b).barred_until == D("2026-02-01")


def test_the_state_route_takes_both_axes(database_url: str, session_factory: Factory) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from pipeline.principals.service import add_principal

    uscc = make_uscc("410106", 5)
    enroll(session_factory, uscc, "2024-01-02")
    before = utc_now()
    fire(session_factory, uscc, "recognize_innovative", "2024-03-01")
    with unit_of_work(session_factory) as session:
        token = add_principal(session, name="市局", role="official", level="city", region_code="410100",
                              created_by="test").token
    with TestClient(create_app(database_url)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        now = client.get(f"/api/v1/enterprises/{uscc}/state", params={"as_of": "2024-06-01"}, headers=headers)
        then = client.get(f"/api/v1/enterprises/{uscc}/state", headers=headers,
                          params={"as_of": "2024-06-01", "known_at": before.isoformat()})
        assert now.status_code == then.status_code == 200
        assert (now.json()["state"], [t["tier"] for t in now.json()["titles"]]) == ("innovative", ["innovative"])
        assert (then.json()["state"], then.json()["titles"]) == ("reserve", [])
        roster = client.get("/api/v1/roster", params={"as_of": "2024-06-01", "tier": "innovative"}, headers=headers)
        assert [i["uscc"] for i in roster.json()["items"]] == [uscc]
        assert roster.json()["source"] == "recognitions"
        counts = client.get("/api/v1/reports/counts", params={"as_of": "2024-06-01"}, headers=headers)
        assert {"region_code": "410106", "level": "district", "states": {"innovative": 1},
                "titles": {"innovative": 1}, "side_titles": {}} in counts.json()["levels"]
        naive = client.get(f"/api/v1/enterprises/{uscc}/state", headers=headers,
                           params={"known_at": "2024-06-01T00:00:00"})
        assert naive.status_code == 422
