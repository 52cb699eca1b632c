"""A recognition is the authority's decision: recorded even when our data disagrees, with a warning in evidence."""

from __future__ import annotations

from typing import Any

from helpers import ADMIN, Factory, enroll, fire, make_uscc, titles

from pipeline.db import unit_of_work
from pipeline.eligibility.indicators import record_indicators

#: 创新型 worked example (75 points); see tests/api/test_eligibility_api.py.
PASSES: dict[str, Any] = {
    "independent_legal_person": True, "is_sme": True, "on_abnormal_or_dishonest_list": False,
    "major_incident_or_tax_violation_3y": False, "awards": [], "certifications": [], "rd_institution_level": "none",
    "equity_financing_3y": 0, "ip_high_value_class1": 0, "ip_self_developed_class1": 1, "ip_class1_count": 1,
    "ip_class2_count": 0, "rd_ratio": 0.04, "revenue_growth": 0.12, "debt_ratio": 0.60,
    "strategic_emerging_field": True, "main_business_share": 0.65,
}


def indicators(factory: Factory, uscc: str, year: int, values: dict[str, Any]) -> None:
    with unit_of_work(factory) as session:
        record_indicators(session, uscc, year=year, values=values, actor=ADMIN)


def test_a_recognition_against_our_data_is_recorded_with_the_warning(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 71)
    enroll(session_factory, uscc, "2025-01-10")
    indicators(session_factory, uscc, 2023, PASSES)  # an older year that passed …
    indicators(session_factory, uscc, 2024, {**PASSES, "is_sme": False, "revenue_growth": -0.1})  # … the latest fails
    indicators(session_factory, uscc, 2025, PASSES)  # the decision's own year is not known on the decision date
    event = fire(session_factory, uscc, "recognize_innovative", "2025-06-01").event
    assert [t.tier for t in titles(session_factory, uscc)] == ["innovative"]  # the decision stands
    assert event.evidence["eligibility_warning"] == {
        "rulebook_id": "miit-2022", "tier": "innovative", "year": 2024, "passed": False,
        "unmet": ["sme", "score_or_direct"], "missing": []}
    assert event.evidence["document_no"]  # the decision's own evidence is untouched


def test_no_data_at_all_is_an_open_warning(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 72)
    enroll(session_factory, uscc, "2025-01-10")
    event = fire(session_factory, uscc, "recognize_innovative", "2025-06-01").event
    assert event.evidence["eligibility_warning"] == {
        "rulebook_id": "miit-2022", "tier": "innovative", "year": None, "passed": None, "missing": "no annual data"}


def test_a_recognition_our_data_supports_carries_no_warning(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 73)
    enroll(session_factory, uscc, "2025-01-10")
    indicators(session_factory, uscc, 2024, PASSES)
    event = fire(session_factory, uscc, "recognize_innovative", "2025-06-01").event
    assert "eligibility_warning" not in event.evidence


def test_the_provincial_warning_sees_the_innovative_title_of_the_decision_date(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 74)
    enroll(session_factory, uscc, "2025-01-10")
    fire(session_factory, uscc, "recognize_innovative", "2025-02-01")
    indicators(session_factory, uscc, 2024, {"revenue": 30_000_000, "rd_spend": 600_000})
    event = fire(session_factory, uscc, "recognize_provincial", "2025-06-01").event
    warning = event.evidence["eligibility_warning"]
    assert (warning["tier"], warning["passed"]) == ("provincial", False)
    assert "holds_innovative" not in warning["unmet"]  # held on 2025-06-01
    assert "rd_spend" in warning["unmet"]  # ¥600,000 < ¥1M
    assert "years_in_niche" in warning["missing"]
