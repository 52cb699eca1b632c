"""Refusals: each names the rule that refused, and a refused action writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from helpers import (
    ADMIN,
    AUDITOR,
    CITY,
    DISTRICT,
    Factory,
    bring_to,
    enroll,
    exists,
    fire,
    footprint,
    load,
    make_uscc,
)

from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.db import unit_of_work
from pipeline.errors import Forbidden, GuardFailed, InvalidRegion, InvalidUSCC, NotFound
from pipeline.firms import repository, service
from pipeline.identifiers import validate_uscc
from pipeline.rulebooks import get_rulebook

USCC = make_uscc("410106", 100)


def refused(factory: Factory, state: str, trigger: str, on: str | dt.date, **overrides: Any) -> GuardFailed:
    """Bring a firm to ``state``, fire ``trigger`` expecting a refusal, and check nothing was written."""
    bring_to(factory, USCC, state)
    before = footprint(factory, USCC)
    with pytest.raises(GuardFailed) as caught:
        fire(factory, USCC, trigger, on, **overrides)
    assert footprint(factory, USCC) == before
    error = caught.value
    assert error.extra["trigger"] == trigger
    assert error.extra["guard"] == error.extra["refusals"][0]["guard"]
    return error


def guards_of(error: GuardFailed) -> list[str]:
    return [refusal["guard"] for refusal in error.extra["refusals"]]


def test_a_decision_dated_tomorrow_is_refused(session_factory: Factory) -> None:
    tomorrow = business_today() + dt.timedelta(days=1)
    error = refused(session_factory, "reserve", "recognize_innovative", tomorrow)
    assert guards_of(error) == ["effective_date_not_in_future"]
    assert tomorrow.isoformat() in error.detail


def test_an_enrollment_dated_tomorrow_is_refused(session_factory: Factory) -> None:
    with pytest.raises(GuardFailed) as caught:
        enroll(session_factory, USCC, business_today() + dt.timedelta(days=1))
    assert caught.value.extra["guard"] == "effective_date_not_in_future"
    assert not exists(session_factory, USCC)


def test_a_decision_dated_before_the_firms_latest_event_is_refused(session_factory: Factory) -> None:
    error = refused(session_factory, "provincial", "demote", "2022-09-30")  # recognised 2022-10-01
    assert guards_of(error) == ["effective_date_not_before_latest_event"]
    assert "2022-10-01" in error.detail


@pytest.mark.parametrize(("state", "trigger"), [("reserve", "recognize_innovative"),
                                                ("innovative", "recognize_provincial"),
                                                ("provincial", "recognize_national"),
                                                ("national", "renew")])
@pytest.mark.parametrize("evidence", [{}, {"document_no": "  ", "batch": ""}], ids=["absent", "blank"])
def test_recognitions_and_renewals_need_a_document_number_or_batch(
    session_factory: Factory, state: str, trigger: str, evidence: dict[str, str]
) -> None:
    error = refused(session_factory, state, trigger, "2023-01-01", evidence=evidence)
    assert guards_of(error) == ["decision_evidence_required"]


def test_revoke_needs_a_document_number_not_just_a_batch(session_factory: Factory) -> None:
    error = refused(session_factory, "national", "revoke", "2023-01-01", evidence={"batch": "2022-1"})
    assert guards_of(error) == ["decision_evidence_required"]
    assert "document_no" in error.detail


@pytest.mark.parametrize("trigger", ["demote", "revoke", "remove"])
def test_a_missing_reason_code_is_refused_listing_the_catalogue(session_factory: Factory, trigger: str) -> None:
    error = refused(session_factory, "provincial", trigger, "2023-01-01", reason_code=None)
    assert guards_of(error) == ["reason_code_required"]
    catalogue = get_rulebook("miit-2022").reasons_for(trigger)
    assert catalogue
    for code in catalogue:
        assert code in error.detail


@pytest.mark.parametrize(("trigger", "code"), [("demote", "tax_evasion"), ("revoke", "failed_review"),
                                               ("remove", "false_information"), ("remove", "bankrupt")])
def test_a_reason_code_from_another_catalogue_is_refused(session_factory: Factory, trigger: str,
                                                        code: str) -> None:
    error = refused(session_factory, "provincial", trigger, "2023-01-01", reason_code=code)
    assert guards_of(error) == ["reason_code_in_catalogue"]
    assert code in error.detail
    assert "miit-2022" in error.detail


@pytest.mark.parametrize("trigger", ["demote", "revoke"])
@pytest.mark.parametrize("reason", [None, "   "], ids=["absent", "blank"])
def test_demote_and_revoke_need_a_reason_text(session_factory: Factory, trigger: str,
                                              reason: str | None) -> None:
    error = refused(session_factory, "provincial", trigger, "2023-01-01", reason=reason)
    assert guards_of(error) == ["reason_required"]


def test_every_failed_guard_is_listed(session_factory: Factory) -> None:
    error = refused(session_factory, "provincial", "revoke", "2022-09-30", reason_code=None, reason=None,
                    evidence={})
    assert guards_of(error) == ["effective_date_not_before_latest_event", "reason_code_required",
                                "reason_required", "decision_evidence_required"]


@pytest.mark.parametrize(("state", "trigger", "lapsed"), [("innovative", "recognize_provincial", "innovative"),
                                                          ("provincial", "recognize_national", "provincial")])
def test_the_prerequisite_title_must_be_valid_on_the_decision_date(
    session_factory: Factory, state: str, trigger: str, lapsed: str
) -> None:
    # innovative is valid until 2025-08-31, provincial until 2025-09-30
    error = refused(session_factory, state, trigger, "2025-10-01")
    assert guards_of(error) == ["prerequisite_title_valid"]
    assert lapsed in error.detail
    assert "2025-10-01" in error.detail


def test_a_lapsed_title_cannot_be_renewed(session_factory: Factory) -> None:
    error = refused(session_factory, "innovative", "renew", "2025-09-01")
    assert guards_of(error) == ["title_valid_for_renewal"]
    assert "2025-08-31" in error.detail


@pytest.mark.parametrize("valid_until", ["2023-01-01", "2022-12-31"])
def test_valid_until_must_fall_after_the_decision(session_factory: Factory, valid_until: str) -> None:
    error = refused(session_factory, "reserve", "recognize_innovative", "2023-01-01",
                    evidence={"document_no": "豫工信〔2023〕1号", "valid_until": valid_until})
    assert guards_of(error) == ["valid_until_after_decision"]


def test_a_district_official_enrolls_but_cannot_recognize(session_factory: Factory) -> None:
    enroll(session_factory, USCC, "2022-09-01", actor=DISTRICT)
    before = footprint(session_factory, USCC)
    with pytest.raises(Forbidden) as caught:
        fire(session_factory, USCC, "recognize_innovative", "2022-09-01", actor=DISTRICT)
    assert caught.value.extra["rule"] == "miit-2022:permissions.recognize_innovative"
    assert "official:district" in caught.value.detail
    assert footprint(session_factory, USCC) == before
    fire(session_factory, USCC, "recognize_innovative", "2022-09-01", actor=CITY)
    assert load(session_factory, USCC).state == "innovative"


def test_an_auditor_never_writes(session_factory: Factory) -> None:
    with pytest.raises(Forbidden):
        enroll(session_factory, USCC, "2022-09-01", actor=AUDITOR)
    bring_to(session_factory, USCC, "reserve")
    before = footprint(session_factory, USCC)
    with pytest.raises(Forbidden):
        fire(session_factory, USCC, "remove", "2022-09-01", actor=AUDITOR)
    with pytest.raises(Forbidden), unit_of_work(session_factory) as session:
        service.amend(session, USCC, changes={"name": "改名"}, actor=AUDITOR)
    assert footprint(session_factory, USCC) == before
    with session_factory() as session:  # reading is what an auditor does
        assert repository.get_enterprise(session, USCC, AUDITOR).uscc == USCC


def test_an_integration_client_writes_only_what_it_is_granted(session_factory: Factory) -> None:
    bank = Actor(id="bank-platform", role="integrator")
    with pytest.raises(Forbidden) as caught:
        enroll(session_factory, USCC, "2022-09-01", actor=bank)
    assert "nothing" in caught.value.detail

    finance = Actor(id="finance-bureau", role="integrator", grants=("enroll",))
    enroll(session_factory, USCC, "2022-09-01", actor=finance)
    with pytest.raises(Forbidden) as caught:
        fire(session_factory, USCC, "remove", "2022-09-01", actor=finance)
    assert "enroll" in caught.value.detail
    assert footprint(session_factory, USCC)[0] == 1


def test_an_actor_cannot_load_or_change_a_firm_outside_its_jurisdiction(session_factory: Factory) -> None:
    sanmenxia = make_uscc("411200", 101)
    enroll(session_factory, sanmenxia, "2022-09-01")
    enroll(session_factory, USCC, "2022-09-01")
    before = footprint(session_factory, sanmenxia)
    with session_factory() as session:
        with pytest.raises(NotFound):
            repository.get_enterprise(session, sanmenxia, CITY)
        assert repository.get_enterprise(session, USCC, CITY).region_code == "410106"
    with pytest.raises(NotFound):
        fire(session_factory, sanmenxia, "remove", "2022-10-01", actor=CITY)
    with pytest.raises(NotFound):
        enroll(session_factory, make_uscc("411200", 102), "2022-09-01", actor=CITY)
    assert footprint(session_factory, sanmenxia) == before


def test_a_wrong_check_character_names_the_expected_one() -> None:
    good = make_uscc("410106", 7)
    wrong = "0" if good[-1] != "0" else "1"
    with pytest.raises(InvalidUSCC) as caught:
        validate_uscc(good[:17] + wrong)
    assert caught.value.extra["expected_check_character"] == good[-1]
    assert f"expected '{good[-1]}'" in caught.value.detail
    assert "character 18" in caught.value.detail


def test_a_code_of_the_wrong_length_says_how_long_it_is() -> None:
    with pytest.raises(InvalidUSCC) as caught:
        validate_uscc(make_uscc()[:17])
    assert "18" in caught.value.detail
    assert "17" in caught.value.detail


def test_a_letter_in_the_first_eight_characters_names_its_position() -> None:
    code = make_uscc()
    with pytest.raises(InvalidUSCC) as caught:
        validate_uscc(code[:4] + "A" + code[5:])
    assert "character 5" in caught.value.detail
    assert "digit" in caught.value.detail


def test_a_character_gb32100_does_not_use_names_its_position() -> None:
    code = make_uscc()
    with pytest.raises(InvalidUSCC) as caught:
        validate_uscc(code[:9] + "I" + code[10:])
    assert "character 10" in caught.value.detail
    assert "'I'" in caught.value.detail


def test_full_width_characters_spaces_and_lower_case_are_normalized(session_factory: Factory) -> None:
    code = make_uscc("410106", 0xABC)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
    typed = f" {full_width[:2]} {full_width[2:8]}\u3000{full_width[8:].lower()} "
    assert validate_uscc(typed) == code

    outcome = enroll(session_factory, typed, "2022-09-01")
    assert outcome.enterprise.uscc == code
    with session_factory() as session:
        assert repository.get_enterprise(session, typed, ADMIN).uscc == code


def test_the_region_defaults_to_characters_three_to_eight(session_factory: Factory) -> None:
    enroll(session_factory, make_uscc("410411", 1), "2022-09-01")
    enroll(session_factory, make_uscc("410100", 2), "2022-09-01", region_code="410106")
    assert load(session_factory, make_uscc("410411", 1)).region_code == "410411"
    assert load(session_factory, make_uscc("410100", 2)).region_code == "410106"


@pytest.mark.parametrize(("uscc_region", "region_code"), [("110103", None),  # 崇文区, abolished 2010
                                                           ("999999", None),
                                                           ("410106", "999999"),
                                                           ("410106", "4101")])
def test_unknown_or_abolished_regions_are_refused(session_factory: Factory, uscc_region: str,
                                                  region_code: str | None) -> None:
    uscc = make_uscc(uscc_region, 3)
    with pytest.raises(InvalidRegion) as caught:
        enroll(session_factory, uscc, "2022-09-01", region_code=region_code)
    assert (region_code or uscc_region) in caught.value.detail
    assert not exists(session_factory, uscc)
