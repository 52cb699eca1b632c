"""Every trigger through the service, on a real database: where a firm lands and what its titles become."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import (
    ADMIN,
    ROADS,
    Factory,
    bring_to,
    day,
    enroll,
    events,
    fire,
    footprint,
    highest_valid_title,
    load,
    make_uscc,
    titles,
    walk,
)

from pipeline.access import SYSTEM
from pipeline.errors import AlreadyExists, GuardFailed, IllegalTransition

TIERS = ("innovative", "provincial", "national")


def test_enroll_puts_a_new_firm_in_reserve_with_its_first_event(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 1)
    outcome = enroll(session_factory, uscc, "2022-09-01", reason="首批纳入")

    firm = load(session_factory, uscc)
    assert (firm.state, firm.region_code, firm.version, firm.last_seq) == ("reserve", "410106", 1, 1)
    assert firm.barred_until is None
    assert firm.recognitions == []
    [event] = events(session_factory, uscc)
    assert (event.seq, event.trigger, event.from_state, event.to_state) == (1, "enroll", None, "reserve")
    assert event.effective_date == dt.date(2022, 9, 1)
    assert event.reason == "首批纳入"
    assert event.actor == ADMIN.id
    assert event.hash == outcome.event.hash


def test_a_code_already_enrolled_cannot_be_enrolled_twice(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 14)
    enroll(session_factory, uscc, "2022-09-01")
    before = footprint(session_factory, uscc)
    with pytest.raises(AlreadyExists):
        enroll(session_factory, uscc, "2022-10-01", name="另一家")
    assert footprint(session_factory, uscc) == before
    assert load(session_factory, uscc).name != "另一家"


def test_a_firm_climbs_every_tier_and_its_state_is_its_highest_valid_title(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 2)
    story = [
        ("enroll", "2022-09-01", "reserve"),
        ("recognize_innovative", "2022-09-01", "innovative"),
        ("recognize_provincial", "2022-10-01", "provincial"),
        ("recognize_national", "2022-11-01", "national"),
        ("renew", "2025-09-01", "national"),
        ("demote", "2026-01-15", "reserve"),  # provincial and innovative lapsed in 2025
        ("recognize_innovative", "2026-05-01", "innovative"),
        ("remove", "2026-06-01", "removed"),
        ("enroll", "2026-07-01", "reserve"),
    ]
    for trigger, on, expected in story:
        walk(session_factory, uscc, [(trigger, on)])
        firm = load(session_factory, uscc)
        assert firm.state == expected, (trigger, on)
        if expected in ("reserve", *TIERS):
            assert firm.state == highest_valid_title(firm, day(on)), (trigger, on)
    recorded = [(e.trigger, e.from_state, e.to_state) for e in events(session_factory, uscc)]
    assert recorded == [
        ("enroll", None, "reserve"),
        ("recognize_innovative", "reserve", "innovative"),
        ("recognize_provincial", "innovative", "provincial"),
        ("recognize_national", "provincial", "national"),
        ("renew", "national", "national"),
        ("demote", "national", "reserve"),
        ("recognize_innovative", "reserve", "innovative"),
        ("remove", "innovative", "removed"),
        ("enroll", "removed", "reserve"),
    ]


@pytest.mark.parametrize(("tier", "trigger"), [("innovative", "recognize_innovative"),
                                               ("provincial", "recognize_provincial"),
                                               ("national", "recognize_national")])
def test_a_recognition_opens_a_title_valid_three_years_less_a_day(
    session_factory: Factory, tier: str, trigger: str
) -> None:
    uscc = make_uscc("410106", 3)
    road = [("enroll", "2021-01-01"), ("recognize_innovative", "2021-01-01"),
            ("recognize_provincial", "2021-01-01"), ("recognize_national", "2021-01-01")]
    walk(session_factory, uscc, road[: 2 + TIERS.index(tier)])

    [title] = [t for t in titles(session_factory, uscc) if t.tier == tier]
    assert (title.recognized_on, title.valid_until, title.ended_on) == (
        dt.date(2021, 1, 1), dt.date(2023, 12, 31), None)
    last = events(session_factory, uscc)[-1]
    assert last.trigger == trigger
    assert last.evidence["valid_until"] == "2023-12-31"
    assert last.evidence["tier"] == tier


def test_a_recognition_keeps_the_document_and_an_explicit_validity_end(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 4)
    enroll(session_factory, uscc, "2022-09-01")
    fire(session_factory, uscc, "recognize_innovative", "2022-09-01",
         evidence={"document_no": " 豫工信〔2022〕9号 ", "batch": "2022-1", "valid_until": "2025-06-30"})
    [title] = titles(session_factory, uscc)
    assert (title.document_no, title.batch, title.valid_until) == ("豫工信〔2022〕9号", "2022-1", dt.date(2025, 6, 30))


@pytest.mark.parametrize("tier", TIERS)
def test_renew_before_lapse_opens_the_next_window(session_factory: Factory, tier: str) -> None:
    uscc = make_uscc("410106", 5)
    bring_to(session_factory, uscc, tier)
    [old] = [t for t in titles(session_factory, uscc) if t.tier == tier]

    fire(session_factory, uscc, "renew", "2025-06-01")

    firm = load(session_factory, uscc)
    assert firm.state == tier
    same_tier = sorted((t for t in firm.recognitions if t.tier == tier), key=lambda t: t.id)
    assert len(same_tier) == 2
    ended, renewed = same_tier
    assert (ended.id, ended.ended_on, ended.end_reason) == (old.id, dt.date(2025, 6, 1), "renewed")
    assert ended.valid_until == old.valid_until  # the old window is kept as it was, not overwritten
    assert renewed.ended_on is None
    assert renewed.recognized_on == dt.date(2025, 6, 1)
    assert renewed.valid_until == old.valid_until.replace(year=old.valid_until.year + 3)
    last = events(session_factory, uscc)[-1]
    assert (last.trigger, last.from_state, last.to_state) == ("renew", tier, tier)
    assert last.evidence["valid_until"] == renewed.valid_until.isoformat()


@pytest.mark.parametrize(
    ("road", "on", "landing"),
    [
        ("national", "2023-06-01", "provincial"),  # provincial valid
        ("national_innovative_renewed", "2025-10-15", "innovative"),  # provincial lapsed 2025-09-30
        ("national", "2025-10-15", "reserve"),  # innovative and provincial both lapsed
        ("provincial", "2023-06-01", "innovative"),
        ("provincial", "2025-09-15", "reserve"),  # innovative lapsed 2025-08-31
        ("innovative", "2023-06-01", "reserve"),
    ],
)
def test_demote_lands_on_the_highest_lower_title_still_valid(
    session_factory: Factory, road: str, on: str, landing: str
) -> None:
    uscc = make_uscc("410106", 6)
    if road == "national_innovative_renewed":
        walk(session_factory, uscc, [
            ("enroll", "2022-08-01"), ("recognize_innovative", "2022-08-01"), ("renew", "2022-09-01"),
            ("recognize_provincial", "2022-10-01"), ("recognize_national", "2022-11-01")])
    else:
        bring_to(session_factory, uscc, road)
    from_state = load(session_factory, uscc).state

    outcome = fire(session_factory, uscc, "demote", on, reason_code="failed_review", reason="复核未通过")

    firm = load(session_factory, uscc)
    assert firm.state == landing == highest_valid_title(firm, day(on))
    assert (outcome.event.from_state, outcome.event.to_state) == (from_state, landing)
    assert (outcome.event.reason_code, outcome.event.reason) == ("failed_review", "复核未通过")
    [demoted] = [t for t in firm.recognitions if t.tier == from_state and t.end_reason != "renewed"]
    assert (demoted.ended_on, demoted.end_reason) == (day(on), "failed_review")
    still_open = {t.tier for t in firm.recognitions if t.ended_on is None}
    assert still_open == {t.tier for t in firm.recognitions if t.valid_on(day(on))}


def test_expire_is_refused_while_the_title_is_valid_and_allowed_after(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 7)
    bring_to(session_factory, uscc, "national")  # national valid until 2025-10-31

    with pytest.raises(GuardFailed) as refused:
        fire(session_factory, uscc, "expire", "2025-10-31", actor=SYSTEM)
    assert refused.value.extra["guard"] == "title_lapsed"
    assert "2025-10-31" in refused.value.detail
    assert "2025-11-01" in refused.value.detail
    assert load(session_factory, uscc).state == "national"

    outcome = fire(session_factory, uscc, "expire", "2025-11-01", actor=SYSTEM)
    firm = load(session_factory, uscc)
    assert firm.state == "reserve" == highest_valid_title(firm, dt.date(2025, 11, 1))
    assert outcome.event.actor == SYSTEM.id
    assert outcome.event.trigger == "expire"
    assert {t.tier: t.end_reason for t in firm.recognitions} == {
        "innovative": "expired", "provincial": "expired", "national": "expired"}


def test_expire_lands_on_a_lower_title_still_valid(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 8)
    walk(session_factory, uscc, [("enroll", "2022-08-01"), ("recognize_innovative", "2022-08-01"),
                                 ("renew", "2022-09-01"), ("recognize_provincial", "2022-10-01")])
    fire(session_factory, uscc, "expire", "2025-10-01", actor=SYSTEM)
    firm = load(session_factory, uscc)
    assert firm.state == "innovative" == highest_valid_title(firm, dt.date(2025, 10, 1))


@pytest.mark.parametrize("state", ["reserve", *TIERS])
def test_revoke_ends_every_title_and_bars_for_three_years(session_factory: Factory, state: str) -> None:
    uscc = make_uscc("410106", 9)
    bring_to(session_factory, uscc, state)

    outcome = fire(session_factory, uscc, "revoke", "2023-03-01")

    firm = load(session_factory, uscc)
    assert firm.state == "revoked"
    assert firm.barred_until == dt.date(2026, 3, 1)
    assert all(t.ended_on == dt.date(2023, 3, 1) for t in firm.recognitions)
    assert not any(t.valid_on(dt.date(2023, 3, 1)) for t in firm.recognitions)
    assert len(firm.recognitions) == (TIERS.index(state) + 1 if state in TIERS else 0)
    assert outcome.event.evidence["barred_until"] == "2026-03-01"
    assert outcome.event.evidence["document_no"] == "撤销〔2022〕1号"


def test_a_revoked_firm_may_enroll_again_from_barred_until_not_before(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 10)
    bring_to(session_factory, uscc, "revoked")  # revoked 2022-12-01 → barred until 2025-12-01

    with pytest.raises(GuardFailed) as refused:
        fire(session_factory, uscc, "enroll", "2025-11-30")
    assert refused.value.extra["guard"] == "barred_until"
    assert "2025-12-01" in refused.value.detail
    assert load(session_factory, uscc).state == "revoked"

    fire(session_factory, uscc, "enroll", "2025-12-01")
    firm = load(session_factory, uscc)
    assert (firm.state, firm.barred_until) == ("reserve", None)
    assert events(session_factory, uscc)[-1].evidence["bar_served_until"] == "2025-12-01"


def test_removing_a_revoked_firm_does_not_lift_its_bar(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 11)
    walk(session_factory, uscc, [*ROADS["revoked"], ("remove", "2023-01-01")])

    with pytest.raises(GuardFailed) as refused:
        fire(session_factory, uscc, "enroll", "2024-01-01")
    assert refused.value.extra["guard"] == "barred_until"
    fire(session_factory, uscc, "enroll", "2025-12-01")
    assert load(session_factory, uscc).state == "reserve"


@pytest.mark.parametrize("state", ["reserve", *TIERS, "revoked"])
def test_remove_works_from_every_state_but_removed(session_factory: Factory, state: str) -> None:
    uscc = make_uscc("410106", 12)
    bring_to(session_factory, uscc, state)

    fire(session_factory, uscc, "remove", "2023-06-01", reason_code="became_large_enterprise")

    firm = load(session_factory, uscc)
    assert firm.state == "removed"
    assert all(t.ended_on == dt.date(2023, 6, 1) for t in firm.recognitions)
    assert not any(t.valid_on(dt.date(2023, 6, 1)) for t in firm.recognitions)
    with pytest.raises(IllegalTransition) as refused:
        fire(session_factory, uscc, "remove", "2023-06-02")
    assert refused.value.extra["allowed_triggers"] == ["enroll"]


def test_a_removed_firm_enrolls_again(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 13)
    bring_to(session_factory, uscc, "removed")

    outcome = fire(session_factory, uscc, "enroll", "2023-01-10", reason="迁回辖区")

    assert load(session_factory, uscc).state == "reserve"
    assert (outcome.event.from_state, outcome.event.to_state, outcome.event.reason) == (
        "removed", "reserve", "迁回辖区")
    assert [e.seq for e in events(session_factory, uscc)] == [1, 2, 3]
