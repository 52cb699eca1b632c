"""The eligibility engine against the criteria of SPEC §6, as worked examples. Pure: no database.

Ratios are decimals (5% = 0.05). Each example writes out the points it expects.
"""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

import pytest

from pipeline.eligibility.engine import (
    CriteriaError,
    EligibilityResult,
    compile_criteria,
    criteria_for,
    evaluate,
    indicator_catalogue,
    validate_indicators,
)
from pipeline.errors import InvalidInput
from pipeline.json_numbers import stored_value
from pipeline.rulebooks import all_rulebooks, get_rulebook

R22 = get_rulebook("miit-2022")
R26 = get_rulebook("miit-2026")

BASIC = {
    "independent_legal_person": True,
    "is_sme": True,
    "on_abnormal_or_dishonest_list": False,
    "major_incident_or_tax_violation_3y": False,
}
NO_DIRECT = {"awards": [], "certifications": [], "rd_institution_level": "none", "equity_financing_3y": 0}


def science(level: str, year: int, rank: int | None = None) -> dict[str, Any]:
    return {"type": "science", "level": level, "year": year, **({"rank": rank} if rank else {})}


def with_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    firm = {**base, **changes}
    return {key: value for key, value in firm.items() if value is not ...}  # `...` deletes a key


def innovative_firm(**changes: Any) -> dict[str, Any]:
    """Innovation 30 (IP 15 + R&D 15), growth 20 (15 + 5), specialisation 25 (10 + 15): total 75."""
    base = {
        **BASIC, **NO_DIRECT,
        "ip_high_value_class1": 0, "ip_self_developed_class1": 1, "ip_class1_count": 1, "ip_class2_count": 0,
        "rd_ratio": 0.04,
        "revenue_growth": 0.12,
        "debt_ratio": 0.60,
        "strategic_emerging_field": True,
        "main_business_share": 0.65,
    }
    return with_changes(base, changes)


def innovative(rulebook: Any = R22, year: int = 2024, **changes: Any) -> EligibilityResult:
    return evaluate(rulebook, "innovative", innovative_firm(**changes), year=year)


def points(result: EligibilityResult, item: str) -> int | None:
    return next(score.points for score in result.items if score.code == item)


def entry(result: EligibilityResult, code: str) -> Any:
    return next(unmet for top in result.unmet for unmet in top.walk() if unmet.code == code)


# ------------------------------------------------------------------------------ 创新型: the score


def test_worked_example_scores_each_item_category_and_total() -> None:
    result = innovative()
    assert [(item.code, item.points) for item in result.items] == [
        ("ip", 15), ("rd_ratio", 15), ("revenue_growth", 15), ("debt_ratio", 5),
        ("strategic_emerging_field", 10), ("main_business_share", 15),
    ]
    assert result.category_points == {"innovation": 30, "growth": 20, "specialisation": 25}
    assert result.total_points == 75
    assert result.passed is True
    assert result.unmet == ()
    assert result.missing == ()
    assert result.direct_condition is None
    assert result.gap.rank_key == (0, 0, 0)


@pytest.mark.parametrize(("ratio", "expected"), [
    (0.20, 20), (0.05, 20), (0.0499, 15), (0.03, 15), (0.0299, 10), (0.02, 10), (0.0199, 5), (0.01, 5),
    (0.0099, 0), (0.0, 0),
])
def test_rd_ratio_bands_include_their_lower_bound(ratio: float, expected: int) -> None:
    assert points(innovative(rd_ratio=ratio), "rd_ratio") == expected


def test_rd_ratio_derived_from_spend_and_revenue_hits_the_boundary_exactly() -> None:
    result = innovative(rd_ratio=..., rd_spend=500_000, revenue=10_000_000)  # 5% exactly → 20
    assert points(result, "rd_ratio") == 20
    assert points(innovative(rd_ratio=..., rd_spend=300_000, revenue=10_000_000), "rd_ratio") == 15


def test_derived_quotients_are_rounded_exactly_as_round_does_even_next_to_half_way_points() -> None:
    """The generated derivation skips round()'s decimal string where that is exact; it must never differ from it."""
    rng = random.Random(20261128)  # noqa: S311 — test data, not a secret
    pairs = [(rng.uniform(0, 0.2) * revenue, revenue) for revenue in (rng.lognormvariate(17, 2) for _ in range(3000))]
    pairs += [(spend, 10.0 ** rng.randint(-3, 12)) for spend in (rng.uniform(0, 1e9) for _ in range(1000))]
    for _ in range(2000):  # the 9th decimal's half-way points, and the doubles either side of them
        revenue = float(rng.randint(1, 10**6))
        spend = (rng.randint(0, 10**9) + 0.5) / 1e9 * revenue
        pairs += [(spend, revenue), (math.nextafter(spend, 0), revenue), (math.nextafter(spend, math.inf), revenue)]
    for spend, revenue in pairs:
        expected = round(spend / revenue, 9)
        derived = validate_indicators({"rd_spend": spend, "revenue": revenue}, R26)["rd_ratio"]
        assert (derived, type(derived)) == (expected, float), (spend, revenue)
        result = innovative(rd_ratio=..., rd_spend=spend, revenue=revenue)  # the judge's own derivation
        assert next(item.value for item in result.items if item.code == "rd_ratio") == expected, (spend, revenue)


@pytest.mark.parametrize("changes", [
    {},
    {"revenue": 50_000_000.0, "ip_class1_count": 3.0, "years_in_niche": 6.0},  # integral floats, as JSONB keeps them
    {"revenue": 10_000_000_000_000_000},  # a float beyond 2^53 that JSONB hands back as an integer
    # the same for an integer: the float's integer, not this one (a failed rank shows the value it judged)
    {"ip_class2_count": 123_456_789_012_345_678_901, "national_market_rank": 123_456_789_012_345_678_901},
    {"ip_class1_count": 2.5},  # refused either way
    {"awards": [{"type": "science", "level": "national", "year": 2024.0, "rank": 3.0}]},  # numbers inside records
    {"awards": [{"type": "science", "level": "national", "year": 2024.5}]},
    {"certifications": ["high_tech_enterprise"], "rd_institution_level": "national", "own_brand": 1.0},
    {"debt_ratio": 1},
])
@pytest.mark.parametrize("tier", ["innovative", "provincial", "national"])
def test_a_document_judged_as_stored_is_judged_as_the_column_gives_it_back(changes: dict[str, Any], tier: str) -> None:
    document = {**innovative_firm(), "revenue": 80_000_000.5, "rd_spend": 4_000_000.25, **changes}
    criteria = criteria_for(R26, tier)

    def judged(values: dict[str, Any], **options: Any) -> Any:
        try:
            return criteria.evaluate(values, year=2025, holds_innovative=True, holds_provincial=True, **options)
        except InvalidInput as refused:
            return str(refused)

    for region_code in (None, "410102"):  # the whole function, and the mapping path of an overlay's category
        expected = judged(stored_value(copy.deepcopy(document)), region_code=region_code)
        assert judged(copy.deepcopy(document), region_code=region_code, stored=True) == expected


@pytest.mark.parametrize(("growth", "expected"), [
    (0.40, 20), (0.15, 20), (0.1499, 15), (0.10, 15), (0.0999, 10), (0.05, 10), (0.0499, 5), (0.0, 5),
    (-0.0001, 0), (-0.5, 0),
])
def test_growth_bands_include_their_lower_bound_and_zero_scores_five(growth: float, expected: int) -> None:
    assert points(innovative(revenue_growth=growth), "revenue_growth") == expected


@pytest.mark.parametrize(("debt", "expected"), [
    (0.0, 10), (0.55, 10), (0.5501, 5), (0.75, 5), (0.7501, 0), (1.3, 0),
])
def test_debt_bands_include_their_upper_bound(debt: float, expected: int) -> None:
    assert points(innovative(debt_ratio=debt), "debt_ratio") == expected


@pytest.mark.parametrize(("share", "expected"), [
    (1.0, 20), (0.70, 20), (0.6999, 15), (0.60, 15), (0.5999, 10), (0.55, 10), (0.5499, 5), (0.50, 5),
    (0.4999, 0), (0.0, 0),
])
def test_main_business_share_bands_include_their_lower_bound(share: float, expected: int) -> None:
    assert points(innovative(main_business_share=share), "main_business_share") == expected


def test_main_business_share_derived_from_revenues() -> None:
    result = innovative(main_business_share=..., main_business_revenue=7_000_000, revenue=10_000_000)
    assert points(result, "main_business_share") == 20  # 70% exactly


@pytest.mark.parametrize(("field", "expected"), [(True, 10), (False, 5)])
def test_strategic_emerging_field(field: bool, expected: int) -> None:
    assert points(innovative(strategic_emerging_field=field), "strategic_emerging_field") == expected


@pytest.mark.parametrize(("high_value", "self_developed", "class1", "class2", "expected"), [
    (1, 0, 1, 0, 20),   # Ⅰ类高价值
    (1, 1, 3, 2, 20),   # the best band wins
    (0, 1, 1, 0, 15),   # self-developed Ⅰ类
    (0, 0, 1, 0, 10),   # Ⅰ类
    (0, 0, 0, 1, 5),    # Ⅱ类
    (0, 0, 0, 0, 0),    # none
])
def test_ip_bands(high_value: int, self_developed: int, class1: int, class2: int, expected: int) -> None:
    result = innovative(ip_high_value_class1=high_value, ip_self_developed_class1=self_developed,
                        ip_class1_count=class1, ip_class2_count=class2)
    assert points(result, "ip") == expected


def test_ip_with_an_unknown_better_band_is_a_range_not_a_guess() -> None:
    result = innovative(ip_high_value_class1=..., ip_self_developed_class1=0, ip_class1_count=1)
    ip = next(item for item in result.items if item.code == "ip")
    assert ip.points is None
    assert ip.points_range == (10, 20)
    assert ip.missing == ("ip_high_value_class1",)
    assert result.total_points is None
    assert result.passed is True  # 70 at worst: every minimum holds whatever the missing figure is


def test_total_over_60_with_innovation_under_20_fails_and_says_so() -> None:
    # IP Ⅱ类 5 + R&D 1.5% 5 = innovation 10; growth 20% 20 + debt 40% 10 = 30; field 10 + share 75% 20 = 30
    result = innovative(ip_self_developed_class1=0, ip_class1_count=0, ip_class2_count=1, rd_ratio=0.015,
                        revenue_growth=0.20, debt_ratio=0.40, main_business_share=0.75)
    assert result.total_points == 70
    assert result.category_points == {"innovation": 10, "growth": 30, "specialisation": 30}
    assert result.passed is False
    short = entry(result, "score.innovation")
    assert short.status == "failed"
    assert short.actual == 10
    assert short.required == "≥ 20"
    assert short.label_zh == "创新能力得分不低于20分"
    assert short.label_en == "Innovation capability points at least 20"
    assert "score.total" not in result.unmet_codes()
    assert result.gap.points == 10
    assert result.gap.conditions == ()


def test_growth_category_under_15_fails() -> None:
    result = innovative(revenue_growth=0.03, debt_ratio=0.80)  # 5 + 0
    assert result.category_points["growth"] == 5
    assert result.passed is False
    assert "score.growth" in result.unmet_codes()


def test_specialisation_category_under_15_fails() -> None:
    result = innovative(strategic_emerging_field=False, main_business_share=0.52)  # 5 + 5
    assert result.category_points["specialisation"] == 10
    assert result.passed is False
    assert "score.specialisation" in result.unmet_codes()


def test_every_category_at_its_minimum_still_needs_60() -> None:
    # innovation 20 (IP 10 + R&D 10), growth 15 (10 + 5), specialisation 15 (10 + 5): total 50
    result = innovative(ip_self_developed_class1=0, rd_ratio=0.02, revenue_growth=0.05, debt_ratio=0.75,
                        main_business_share=0.50)
    assert result.category_points == {"innovation": 20, "growth": 15, "specialisation": 15}
    assert result.total_points == 50
    assert result.passed is False
    assert entry(result, "score.total").label_zh == "总分不低于60分"
    assert result.gap.points == 10


def test_exactly_60_with_every_minimum_passes() -> None:
    # innovation 20 (10 + 10), growth 20 (10 + 10), specialisation 20 (10 + 10)
    result = innovative(ip_self_developed_class1=0, rd_ratio=0.02, revenue_growth=0.05, debt_ratio=0.55,
                        main_business_share=0.55)
    assert result.total_points == 60
    assert result.passed is True


# ------------------------------------------------------------------------ 创新型: direct conditions

FAILING_SCORE = {"rd_ratio": 0.0, "revenue_growth": -0.1}  # innovation 15, growth 5, specialisation 25: 45


@pytest.mark.parametrize(("changes", "direct"), [
    ({"awards": [{"type": "science", "level": "provincial", "year": 2022}]}, "science_award"),
    ({"awards": [{"type": "science", "level": "national", "year": 2022, "rank": 9}]}, "science_award"),
    ({"certifications": ["high_tech_enterprise"]}, "valid_title"),
    ({"certifications": ["tech_innovation_demo"]}, "valid_title"),
    ({"certifications": ["ip_advantage_or_demo", "management_system"]}, "valid_title"),
    ({"rd_institution_level": "provincial"}, "rd_institution"),
    ({"rd_institution_level": "national"}, "rd_institution"),
    ({"equity_financing_3y": 5_000_000}, "equity_financing"),
])
def test_each_direct_condition_passes_a_firm_failing_the_score(changes: dict[str, Any], direct: str) -> None:
    assert innovative(**FAILING_SCORE).passed is False
    result = innovative(**FAILING_SCORE, **changes)
    assert result.passed is True
    assert result.direct_condition == direct
    assert result.total_points == 45  # the score is still reported


@pytest.mark.parametrize("changes", [
    {"awards": [{"type": "science", "level": "provincial", "year": 2020}]},   # 4 years before 2024
    {"awards": [{"type": "science", "level": "provincial", "year": 2025}]},   # after the assessment year
    {"awards": [{"type": "chuangke_china", "level": "national", "year": 2023, "rank": 10}]},
    {"certifications": ["management_system", "developed_market_product"]},
    {"rd_institution_level": "municipal"},
    {"equity_financing_3y": 4_999_999},
])
def test_near_misses_of_direct_conditions_do_not_pass(changes: dict[str, Any]) -> None:
    result = innovative(**FAILING_SCORE, **changes)
    assert result.passed is False
    assert result.direct_condition is None


def test_award_look_back_of_three_years_is_three_calendar_years() -> None:
    """近三年: the assessment year and the two before it (2024: 2022–2024), not four years."""
    assert innovative(**FAILING_SCORE, awards=[{"type": "science", "level": "provincial", "year": 2022}]).passed
    result = innovative(**FAILING_SCORE, awards=[{"type": "science", "level": "provincial", "year": 2021}])
    assert result.passed is False


def test_failed_score_lists_the_direct_conditions_as_alternatives_and_gap_ignores_them() -> None:
    result = innovative(**FAILING_SCORE)
    group = entry(result, "score_or_direct")
    assert group.kind == "any"
    assert [child.code for child in group.children] == [
        "score", "science_award", "valid_title", "rd_institution", "equity_financing", "high_tech_side_title"]
    assert all(child.shortcut == "direct" for child in group.children[1:])
    # innovation 15 → 20 and growth 5 → 15: 15 points, which also lifts the total from 45 to 60
    assert result.gap.conditions == ()
    assert result.gap.points == 15


def test_innovative_2026_uses_the_2022_standard_under_its_new_name() -> None:
    firm = innovative_firm()
    assert evaluate(R26, "innovative", firm, year=2026).total_points == 75
    assert criteria_for(R26, "innovative").label_zh == "科技和创新型中小企业"
    assert criteria_for(R22, "innovative").label_zh == "创新型中小企业"


# ------------------------------------------------------------------------------------ missing data


def test_missing_score_indicator_is_unknown_not_zero() -> None:
    result = innovative(debt_ratio=..., revenue_growth=0.05)  # growth 10 + debt ? (0..10)
    debt = next(item for item in result.items if item.code == "debt_ratio")
    assert debt.points is None
    assert debt.points_range == (0, 10)
    assert debt.missing == ("debt_ratio",)
    assert result.category_points["growth"] is None
    assert result.passed is None
    assert result.missing == ("debt_ratio",)
    assert entry(result, "score").status == "unknown"
    assert entry(result, "score.growth").missing == ("debt_ratio",)


def test_missing_data_that_cannot_change_the_outcome_still_decides() -> None:
    result = innovative(debt_ratio=...)  # growth 15 + debt 0..10: minimum 15 holds either way, total ≥ 70
    assert result.passed is True
    assert result.total_points is None


def test_missing_basic_condition_is_unknown_and_named() -> None:
    result = innovative(is_sme=...)
    assert result.passed is None
    assert result.missing == ("is_sme",)
    assert entry(result, "sme").status == "unknown"
    assert entry(result, "sme").label_zh.startswith("符合")
    assert result.gap.unknown == ("sme",)


def test_a_failure_outweighs_an_unknown() -> None:
    result = innovative(is_sme=..., on_abnormal_or_dishonest_list=True)
    assert result.passed is False
    assert result.missing == ("is_sme",)


def test_missing_award_records_leave_a_failing_score_open() -> None:
    result = innovative(awards=..., **FAILING_SCORE)
    assert result.passed is None
    assert "awards" in result.missing


def test_direct_condition_decides_despite_missing_score_data() -> None:
    result = innovative(rd_ratio=..., debt_ratio=..., certifications=["high_tech_enterprise"])
    assert result.passed is True
    assert result.direct_condition == "valid_title"
    assert result.total_points is None


# --------------------------------------------------------------------------- 省级专精特新, 2022


def provincial22(**changes: Any) -> dict[str, Any]:
    base = {**BASIC, "years_in_niche": 2, "rd_spend": 1_000_000, "rd_spend_prev": 900_000, "rd_ratio": 0.03,
            "revenue": 10_000_000, "equity_financing_2y": 0, "provincial_score": 60, "awards": []}
    return with_changes(base, changes)


def prov22(year: int = 2024, holds: bool | None = True, **changes: Any) -> EligibilityResult:
    return evaluate(R22, "provincial", provincial22(**changes), year=year, holds_innovative=holds)


def test_provincial_2022_every_threshold_met_exactly_passes() -> None:
    result = prov22()
    assert result.passed is True
    assert result.total_points is None
    assert result.items == ()


@pytest.mark.parametrize(("changes", "code"), [
    ({"years_in_niche": 1.9}, "niche_years"),
    ({"rd_spend": 999_999}, "rd_spend"),
    ({"rd_ratio": 0.0299}, "rd_ratio"),
    ({"revenue": 9_999_999}, "revenue_or_equity"),
    ({"provincial_score": 59.9}, "score_or_direct"),
    ({"on_abnormal_or_dishonest_list": True}, "not_listed"),
])
def test_provincial_2022_each_condition_refuses(changes: dict[str, Any], code: str) -> None:
    result = prov22(**changes)
    assert result.passed is False
    assert [top.code for top in result.unmet] == [code]
    assert len(result.gap.conditions) == 1


def test_provincial_2022_requires_the_innovative_title() -> None:
    assert prov22(holds=False).unmet_codes() == ("holds_innovative",)
    unknown = prov22(holds=None)
    assert unknown.passed is None
    assert unknown.missing == ("holds_innovative",)


def test_provincial_2022_equity_replaces_revenue() -> None:
    assert prov22(revenue=5_000_000, rd_ratio=0.2, equity_financing_2y=20_000_000).passed is True
    assert prov22(revenue=5_000_000, rd_ratio=0.2, equity_financing_2y=19_999_999).passed is False


@pytest.mark.parametrize(("changes", "passes"), [
    ({"awards": [{"type": "science", "level": "provincial", "year": 2023, "rank": 3}]}, True),
    ({"awards": [{"type": "science", "level": "provincial", "year": 2023, "rank": 4}]}, False),
    ({"awards": [{"type": "science", "level": "national", "year": 2022, "rank": 5}]}, True),
    ({"awards": [{"type": "science", "level": "national", "year": 2022, "rank": 6}]}, False),
    ({"awards": [{"type": "science", "level": "provincial", "year": 2020, "rank": 1}]}, False),
    ({"rd_spend": 10_000_000, "rd_spend_prev": 10_000_000, "revenue": 100_000_000}, True),
    ({"rd_spend": 12_000_000, "rd_spend_prev": 7_999_998, "revenue": 100_000_000}, False),  # mean 9,999,999
    ({"equity_financing_2y": 60_000_000}, True),
    ({"equity_financing_2y": 59_999_999}, False),
    ({"awards": [{"type": "chuangke_china", "level": "national", "year": 2022, "rank": 500}]}, True),
    ({"awards": [{"type": "chuangke_china", "level": "national", "year": 2022, "rank": 501}]}, False),
])
def test_provincial_2022_direct_conditions(changes: dict[str, Any], passes: bool) -> None:
    result = prov22(provincial_score=50, **changes)
    assert result.passed is passes
    assert (result.direct_condition is not None) is passes


def test_provincial_2022_award_without_rank_is_unknown_for_a_ranked_condition() -> None:
    result = prov22(provincial_score=50, awards=[{"type": "science", "level": "provincial", "year": 2023}])
    assert result.passed is None
    assert result.missing == ("awards",)


# --------------------------------------------------------------------------- 省级专精特新, 2026


def provincial26(**changes: Any) -> dict[str, Any]:
    base = {**BASIC, "years_in_niche": 3, "revenue": 15_000_000, "equity_financing_2y": 0,
            "main_business_share": 0.80, "debt_ratio": 0.80,
            "rd_spend": 1_000_000, "rd_spend_prev": 1_000_000,
            "rd_ratio": 0.03, "rd_ratio_prev": 0.03, "ip_class1_in_use": 1, "awards": [],
            "rd_institution_level": "none", "development_score": 50, "development_score_prev": 30}
    return with_changes(base, changes)


def prov26(re_review: bool = False, holds: bool | None = True, **changes: Any) -> EligibilityResult:
    return evaluate(R26, "provincial", provincial26(**changes), year=2026, re_review=re_review,
                    holds_innovative=holds)


def test_provincial_2026_every_threshold_met_exactly_passes() -> None:
    result = prov26()
    assert result.passed is True
    assert result.not_applicable == ("development_score_either_year",)


@pytest.mark.parametrize(("changes", "code"), [
    ({"years_in_niche": 2.9}, "niche_years"),
    ({"revenue": 14_999_999}, "revenue_or_equity"),
    ({"main_business_share": 0.7999}, "main_business_share"),
    ({"debt_ratio": 0.8001}, "debt_ratio"),
    ({"rd_spend": 999_999}, "rd_spend"),
    ({"rd_spend_prev": 999_999}, "rd_spend_prev"),
    ({"rd_ratio": 0.0299}, "rd_ratio"),
    ({"rd_ratio_prev": 0.0299}, "rd_ratio_prev"),
    ({"ip_class1_in_use": 0}, "ip_class1"),
    ({"development_score": 49.9}, "development_score"),
])
def test_provincial_2026_each_condition_refuses(changes: dict[str, Any], code: str) -> None:
    result = prov26(**changes)
    assert result.passed is False
    assert result.unmet[0].code == code
    assert len(result.unmet) == 1


def test_provincial_2026_requires_the_innovative_title() -> None:
    assert prov26(holds=False).unmet_codes() == ("holds_innovative",)


def test_provincial_2026_equity_replaces_revenue() -> None:
    assert prov26(revenue=1_000_000, rd_ratio=1.0, rd_spend=1_000_000, equity_financing_2y=20_000_000).passed


@pytest.mark.parametrize(("changes", "waiver"), [
    ({"awards": [science("provincial", 2015, rank=3)]}, "ip_waiver_science_award"),
    ({"awards": [science("national", 2024, rank=1)]}, "ip_waiver_science_award"),
    ({"rd_institution_level": "provincial"}, "ip_waiver_rd_institution"),
])
def test_provincial_2026_class1_ip_waivers(changes: dict[str, Any], waiver: str) -> None:
    result = prov26(ip_class1_in_use=0, **changes)
    assert result.passed is True
    assert result.waivers == (waiver,)
    assert result.direct_condition is None


def test_provincial_2026_class1_ip_not_waived_by_a_lower_award_or_institution() -> None:
    result = prov26(ip_class1_in_use=0, rd_institution_level="municipal",
                    awards=[{"type": "science", "level": "provincial", "year": 2025, "rank": 4}])
    assert result.passed is False
    assert result.gap.conditions == ("ip_class1_in_use",)


def test_provincial_2026_re_review_takes_either_years_evaluation_score() -> None:
    assert prov26(development_score=40, development_score_prev=55).passed is False
    result = prov26(re_review=True, development_score=40, development_score_prev=55)
    assert result.passed is True
    assert "development_score" in result.not_applicable
    assert prov26(re_review=True, development_score=40, development_score_prev=49).passed is False


# ------------------------------------------------------------------------------- 小巨人, 2022


def national22(**changes: Any) -> dict[str, Any]:
    base = {
        **BASIC, "years_in_niche": 3, "main_business_share": 0.70, "revenue_growth": 0.05,
        "revenue_growth_prev": 0.05, "core_business_on_info_system": True,
        "certifications": ["management_system"],
        "debt_ratio": 0.70, "market_share": 0.10, "own_brand": True, "revenue": 100_000_000, "rd_ratio": 0.03,
        "rd_ratio_prev": 0.03, "rd_institution_level": "enterprise", "ip_class1_in_use": 2,
        "equity_financing_2y": 0, "rd_spend": 3_000_000, "rd_spend_prev": 3_000_000, "rd_staff_share": 0.2,
        "awards": [], "key_supply_chain_role": True, "priority_field": True,
        "control_relation_with_little_giant": False, "group_firm_with_similar_product": False, "data_fraud": False,
    }
    return with_changes(base, changes)


def nat22(year: int = 2024, re_review: bool = False, holds: bool | None = True, **changes: Any,
          ) -> EligibilityResult:
    return evaluate(R22, "national", national22(**changes), year=year, re_review=re_review,
                    holds_provincial=holds)


def test_national_2022_every_threshold_met_exactly_passes() -> None:
    assert nat22().passed is True
    assert nat22(year=2025).passed is True


@pytest.mark.parametrize(("changes", "code"), [
    ({"years_in_niche": 2.5}, "niche_years"),
    ({"main_business_share": 0.6999}, "main_business_share"),
    ({"revenue_growth": 0.04}, "growth_2y_average"),   # mean 4.5%
    ({"core_business_on_info_system": False}, "info_system"),
    ({"certifications": ["high_tech_enterprise"]}, "certification"),
    ({"debt_ratio": 0.7001}, "debt_ratio"),
    ({"market_share": 0.0999}, "market_share"),
    ({"own_brand": False}, "own_brand"),
    ({"rd_ratio_prev": 0.0299}, "innovation"),
    ({"rd_institution_level": "none"}, "innovation"),
    ({"ip_class1_in_use": 1}, "innovation"),
    ({"key_supply_chain_role": False}, "key_supply_chain_role"),
    ({"priority_field": False}, "priority_field"),
])
def test_national_2022_each_condition_refuses(changes: dict[str, Any], code: str) -> None:
    result = nat22(**changes)
    assert result.passed is False
    assert [top.code for top in result.unmet] == [code]


def test_national_2022_requires_a_valid_provincial_title() -> None:
    assert nat22(holds=False).unmet_codes() == ("holds_provincial",)


def test_national_2022_r_and_d_by_revenue_bracket() -> None:
    medium = {"revenue": 60_000_000, "rd_ratio": 0.06, "rd_ratio_prev": 0.06}
    assert nat22(**medium).passed is True
    result = nat22(**{**medium, "rd_ratio": 0.02})
    assert result.passed is False
    # the cheapest route is the bracket the firm is in: one condition short (≥ ¥100M would need two)
    assert result.gap.conditions == ("rd_ratio_6pct",)
    small = {"revenue": 40_000_000, "rd_ratio": 0.5, "rd_ratio_prev": 0.5, "equity_financing_2y": 80_000_000,
             "rd_spend": 15_000_000, "rd_spend_prev": 15_000_000, "rd_staff_share": 0.5}
    assert nat22(**small).passed is True
    assert nat22(**{**small, "rd_staff_share": 0.49}).passed is False


def test_national_2022_direct_innovation_routes() -> None:
    weak = {"rd_institution_level": "none", "ip_class1_in_use": 0}
    assert nat22(**weak).passed is False
    award = nat22(**weak, awards=[{"type": "science", "level": "national", "year": 2022, "rank": 3}])
    assert award.passed is True
    assert award.direct_condition == "national_science_award"
    top50 = nat22(**weak, awards=[{"type": "chuangke_china", "level": "national", "year": 2023, "rank": 50}])
    assert top50.passed is True
    assert top50.direct_condition == "chuangke_china"
    assert nat22(**weak, awards=[science("national", 2022, rank=4)]).passed is False


def test_national_2025_adjustment_bars_firms_under_50m() -> None:
    small = {"revenue": 40_000_000, "rd_ratio": 0.5, "rd_ratio_prev": 0.5, "equity_financing_2y": 80_000_000,
             "rd_spend": 15_000_000, "rd_spend_prev": 15_000_000, "rd_staff_share": 0.5}
    before = nat22(year=2024, **small)
    assert before.passed is True
    assert "revenue_floor_2025" in before.not_applicable
    for re_review in (False, True):
        after = nat22(year=2025, re_review=re_review, **small)
        assert after.passed is False
        floor = entry(after, "revenue_floor_2025")
        assert floor.actual == 40_000_000
        assert floor.label_en.startswith("2025 batch only")
    assert nat22(year=2025, revenue=50_000_000, rd_ratio=0.06, rd_ratio_prev=0.06).passed is True
    later = nat22(year=2026, **small)  # a rule of the 2025 batch ends with it
    assert later.passed is True
    assert "revenue_floor_2025" in later.not_applicable


@pytest.mark.parametrize(("changes", "code"), [
    ({"control_relation_with_little_giant": True}, "no_control_relation_2025"),
    ({"group_firm_with_similar_product": True}, "no_group_similar_product_2025"),
    ({"data_fraud": True}, "no_data_fraud_2025"),
])
def test_the_2025_exclusions_are_rules_of_that_batch(changes: dict[str, Any], code: str) -> None:
    assert [top.code for top in nat22(year=2025, **changes).unmet] == [code]
    assert nat22(year=2026, **changes).passed is True
    assert nat22(year=2024, **changes).passed is True


def test_a_champion_enterprise_was_excluded_from_the_2025_batch_only() -> None:
    firm = national22()
    champion = evaluate(R22, "national", firm, year=2025, holds_provincial=True, side_titles=["champion_enterprise"])
    assert [top.code for top in champion.unmet] == ["not_champion_enterprise_2025"]
    assert evaluate(R22, "national", firm, year=2026, holds_provincial=True,
                    side_titles=["champion_enterprise"]).passed is True


def test_national_2025_adjustment_does_not_test_growth_at_re_review() -> None:
    slow = {"revenue_growth": 0.01, "revenue_growth_prev": 0.02}
    assert nat22(year=2025, **slow).passed is False                   # application: tested
    assert nat22(year=2024, re_review=True, **slow).passed is False   # re-review before 2025: tested
    assert nat22(year=2026, re_review=True, **slow).passed is False   # and after: the waiver was 2025's
    exempt = nat22(year=2025, re_review=True, **slow)
    assert exempt.passed is True
    assert "growth_2y_average" in exempt.not_applicable
    missing = nat22(year=2025, re_review=True, revenue_growth=..., revenue_growth_prev=...)
    assert missing.passed is True  # an untested figure is not needed


# ------------------------------------------------------------------------------- 小巨人, 2026


def national26(**changes: Any) -> dict[str, Any]:
    base = {
        **BASIC, "years_in_niche": 3, "revenue": 50_000_000, "main_business_share": 0.90,
        "operating_revenue_growth": 0.05,
        "operating_revenue_growth_prev": 0.05, "debt_ratio": 0.75, "rd_spend": 6_000_000, "rd_spend_prev": 6_000_000,
        "rd_ratio": 0.03, "rd_ratio_prev": 0.03, "ip_class1_count": 6, "ip_class1_in_use": 4, "awards": [],
        "market_share": 0.10, "international_market_share": 0.0,
        "national_market_rank": 8, "liuji_product": True, "key_supply_chain_role": False,
        "evaluation_score": 60, "evaluation_score_prev": 40,
    }
    return with_changes(base, changes)


def nat26(re_review: bool = False, holds: bool | None = True, **changes: Any) -> EligibilityResult:
    return evaluate(R26, "national", national26(**changes), year=2026, re_review=re_review,
                    holds_provincial=holds)


def test_national_2026_every_threshold_met_exactly_passes() -> None:
    result = nat26()
    assert result.passed is True
    assert result.not_applicable == ("evaluation_score_either_year",)


@pytest.mark.parametrize(("changes", "code"), [
    ({"years_in_niche": 2}, "niche_years"),
    ({"revenue": 49_999_999}, "revenue"),
    ({"main_business_share": 0.8999}, "main_business_share"),
    ({"operating_revenue_growth": 0.04, "operating_revenue_growth_prev": 0.06}, "compound_growth"),  # 4.995%
    ({"debt_ratio": 0.7501}, "debt_ratio"),
    ({"rd_spend": 5_999_999}, "rd_spend_2y_total"),
    ({"rd_ratio": 0.0299}, "rd_ratio"),
    ({"rd_ratio_prev": 0.0299}, "rd_ratio_prev"),
    ({"ip_class1_in_use": 3}, "ip_class1"),
    ({"market_share": 0.0999}, "market_position"),
    ({"liuji_product": False}, "chain_role"),
    ({"evaluation_score": 59.9}, "evaluation_score"),
])
def test_national_2026_each_condition_refuses(changes: dict[str, Any], code: str) -> None:
    result = nat26(**changes)
    assert result.passed is False
    assert [top.code for top in result.unmet] == [code]


def test_national_2026_compound_growth_at_exactly_5_percent_passes() -> None:
    assert nat26(operating_revenue_growth=0.05, operating_revenue_growth_prev=0.05).passed is True
    entry_ = entry(nat26(operating_revenue_growth=0.04, operating_revenue_growth_prev=0.06), "compound_growth")
    assert entry_.actual == pytest.approx(math.sqrt(1.04 * 1.06) - 1)


def test_national_2026_alternatives() -> None:
    assert nat26(market_share=0.05, national_market_rank=3).passed is True
    assert nat26(liuji_product=False, key_supply_chain_role=True).passed is True
    waived = nat26(ip_class1_in_use=0, awards=[science("national", 2024, rank=3)])
    assert waived.passed is True
    assert waived.waivers == ("ip_waiver_national_science_award",)
    old = nat26(ip_class1_in_use=0, awards=[{"type": "science", "level": "national", "year": 2023, "rank": 1}])
    assert old.passed is False  # 2026's 近三年 is 2024–2026
    provincial = nat26(ip_class1_in_use=0, awards=[{"type": "science", "level": "provincial", "year": 2025,
                                                   "rank": 1}])
    assert provincial.passed is False


def test_national_2026_counts_class_one_ip_in_use_and_yielding_benefit() -> None:
    assert [top.code for top in nat26(ip_class1_count=10, ip_class1_in_use=3).unmet] == ["ip_class1"]


def test_national_2026_growth_is_of_operating_revenue() -> None:
    assert nat26(revenue_growth=-0.2, revenue_growth_prev=-0.2).passed is True  # main-business growth: not tested
    assert [top.code for top in nat26(operating_revenue_growth=0.0).unmet] == ["compound_growth"]


def test_national_2026_market_share_may_be_domestic_or_international() -> None:
    assert nat26(market_share=0.05, international_market_share=0.10).passed is True
    short = nat26(market_share=0.05, international_market_share=0.0999)
    assert [top.code for top in short.unmet] == ["market_position"]


def test_national_2026_requires_a_valid_provincial_title() -> None:
    assert nat26(holds=False).unmet_codes() == ("holds_provincial",)
    assert nat26(holds=None).passed is None


def test_national_2026_re_review_skips_growth_and_takes_either_years_score() -> None:
    result = nat26(re_review=True, operating_revenue_growth=-0.1, operating_revenue_growth_prev=-0.1,
                   evaluation_score=50,
                   evaluation_score_prev=61)
    assert result.passed is True
    assert set(result.not_applicable) == {"compound_growth", "evaluation_score"}
    assert nat26(re_review=True, evaluation_score=59, evaluation_score_prev=59).passed is False
    assert nat26(evaluation_score=50, evaluation_score_prev=61).passed is False  # application: last year only


# ------------------------------------------------------------------------------- ranking by gap


def test_gap_ranks_near_passes_first() -> None:
    one_short = nat26(debt_ratio=0.8)
    two_short = nat26(debt_ratio=0.8, revenue=10_000_000)
    unknown = nat26(debt_ratio=...)
    assert one_short.gap.conditions == ("debt_ratio",)
    assert two_short.gap.conditions == ("revenue", "debt_ratio")
    assert unknown.gap.unknown == ("debt_ratio",)
    assert unknown.passed is None
    ranked = sorted([two_short, one_short, unknown], key=lambda result: result.gap.rank_key)
    assert ranked == [unknown, one_short, two_short]


def test_score_gap_counts_points() -> None:
    closer = innovative(revenue_growth=0.0)                    # growth 5 + 5 = 10: 5 short, total 65
    further = innovative(revenue_growth=-0.1, debt_ratio=0.9)  # growth 0 + 0 = 0: 15 short, total 55
    assert (closer.passed, closer.gap.points) == (False, 5)
    assert (further.passed, further.gap.points) == (False, 15)
    assert further.gap.rank_key > closer.gap.rank_key


def test_result_is_frozen_and_json_ready() -> None:
    result = innovative(**FAILING_SCORE)
    with pytest.raises(AttributeError):
        result.passed = True  # type: ignore[misc]
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert data["passed"] is False
    assert data["total_points"] == 45
    assert data["category_points"] == {"innovation": 15, "growth": 5, "specialisation": 25}
    score = data["unmet"][0]["children"][0]
    assert [child["code"] for child in score["children"]] == [
        "score.innovation", "score.growth", "score.total"]
    assert data["gap"] == {"conditions": [], "points": 15, "unknown": []}
    awarded = innovative(**FAILING_SCORE, awards=[{"type": "science", "level": "provincial", "year": 2010}])
    assert json.dumps(awarded.to_dict(), ensure_ascii=False)


# ------------------------------------------------------------------------------ validate_indicators


REFUSALS = [
    ({"main_business_share": 70}, "main_business_share", "ratios are decimals (5% = 0.05)"),
    ({"rd_staff_share": 50}, "rd_staff_share", "ratios are decimals (5% = 0.05)"),
    ({"rd_ratio": -0.01}, "rd_ratio", "must be at least 0"),
    ({"main_business_share": 1.2}, "main_business_share", "must be between 0 and 1"),
    ({"market_share": -0.1}, "market_share", "must be between 0 and 1"),
    ({"revenue_growth": -1.5}, "revenue_growth", "must be between -1 and 1000"),
    ({"revenue": -1}, "revenue", "must be at least 0"),
    ({"revenue": float("nan")}, "revenue", "must be a finite number"),
    ({"revenue": "10000000"}, "revenue", "must be a number"),
    ({"years_in_niche": 150}, "years_in_niche", "must be between 0 and 100"),
    ({"ip_class1_count": 1.5}, "ip_class1_count", "must be a whole number"),
    ({"ip_class1_count": True}, "ip_class1_count", "must be a number"),
    ({"national_market_rank": 0}, "national_market_rank", "must be at least 1"),
    ({"strategic_emerging_field": "yes"}, "strategic_emerging_field", "must be true or false"),
    ({"rd_institution_level": "ministry"}, "rd_institution_level", "must be one of"),
    ({"certifications": "high_tech_enterprise"}, "certifications", "must be a list of codes"),
    ({"certifications": ["iso9001"]}, "certifications", "must be a list of codes"),
    ({"awards": [{"type": "science", "level": "national", "year": 1800}]}, "awards", "award year"),
    ({"awards": [{"type": "science", "level": "national", "year": 2023, "rank": 0}]}, "awards", "rank"),
    ({"awards": [{"type": "lottery", "level": "national", "year": 2023}]}, "awards", "each record"),
    ({"awards": {"type": "science"}}, "awards", "list of award records"),
    ({"revenu": 1}, "revenu", "unknown indicator 'revenu'"),
    ({"main_business_revenue": 2, "revenue": 1}, "main_business_revenue", "cannot exceed"),
    ({"ip_high_value_class1": 3, "ip_class1_count": 2}, "ip_high_value_class1", "cannot outnumber"),
]


@pytest.mark.parametrize(("values", "field", "says"), REFUSALS)
def test_validate_indicators_refuses_with_a_bilingual_message(values: dict[str, Any], field: str,
                                                               says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_indicators(values)
    assert refused.value.field == field
    assert says in refused.value.detail
    assert " — " in refused.value.detail  # Chinese first, then English


@pytest.mark.parametrize(("values", "field", "says"), REFUSALS)
def test_evaluate_refuses_exactly_as_validation_does(values: dict[str, Any], field: str, says: str) -> None:
    """Judging checks the common cases inline (generated code) and leaves the rest to the validators."""
    firm = {**innovative_firm(), **values}
    with pytest.raises(InvalidInput) as judged:
        evaluate(R22, "innovative", firm, year=2024)
    with pytest.raises(InvalidInput) as validated:
        validate_indicators(firm, R22)
    assert (judged.value.field, judged.value.detail) == (validated.value.field, validated.value.detail)
    assert judged.value.field == field
    assert says in judged.value.detail


@pytest.mark.parametrize("first", ["revenue", "market_share"])
def test_of_two_bad_values_the_first_given_is_named(first: str) -> None:
    bad = {"revenue": -1, "market_share": 1.5}
    firm = {**innovative_firm(), first: bad[first], **{key: value for key, value in bad.items() if key != first}}
    for judge in (lambda: evaluate(R22, "innovative", firm, year=2024), lambda: validate_indicators(firm, R22)):
        with pytest.raises(InvalidInput) as refused:
            judge()
        assert refused.value.field == first


def test_a_whole_number_or_a_none_judges_as_the_float_or_the_absent_key() -> None:
    assert innovative(revenue_growth=1, debt_ratio=0) == innovative(revenue_growth=1.0, debt_ratio=0.0)
    assert innovative(revenue_growth=1).items[2].value == 1.0
    assert innovative(debt_ratio=None) == innovative(debt_ratio=...)
    assert next(item for item in innovative(debt_ratio=None).items if item.code == "debt_ratio").missing == (
        "debt_ratio",)


def test_validate_indicators_message_names_the_indicator_in_chinese() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_indicators({"main_business_share": 65})
    assert refused.value.detail.startswith(
        "指标 main_business_share（上年度主营业务收入总额占营业收入总额比重）应在 0 至 1 之间")


def test_validate_indicators_normalises() -> None:
    clean = validate_indicators({
        "revenue": 10_000_000, "rd_spend": 300_000, "debt_ratio": None, "ip_class1_count": 2.0,
        "certifications": ["high_tech_enterprise", "high_tech_enterprise"],
        "awards": [{"type": "science", "level": "national", "year": 2023}],
    })
    assert clean["revenue"] == 10_000_000.0
    assert isinstance(clean["revenue"], float)
    assert clean["rd_ratio"] == 0.03  # derived
    assert "debt_ratio" not in clean  # unknown stays unknown
    assert clean["ip_class1_count"] == 2
    assert isinstance(clean["ip_class1_count"], int)
    assert clean["certifications"] == frozenset({"high_tech_enterprise"})
    assert clean["awards"][0].rank is None


def test_evaluate_validates_too() -> None:
    with pytest.raises(InvalidInput) as refused:
        innovative(main_business_share=65)
    assert refused.value.field == "main_business_share"


def test_rd_ratio_may_exceed_one() -> None:
    assert validate_indicators({"rd_spend": 30_000_000, "revenue": 20_000_000})["rd_ratio"] == 1.5


@pytest.mark.parametrize(("context", "field"), [
    ({"year": "2024"}, "year"),
    ({"year": 1800}, "year"),
    ({"year": 2024, "re_review": None}, "re_review"),
    ({"year": 2024, "holds_innovative": "yes"}, "holds_innovative"),
])
def test_context_is_checked(context: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        evaluate(R22, "provincial", provincial22(), **context)
    assert refused.value.field == field


def test_unknown_tier_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        evaluate(R22, "reserve", {}, year=2024)
    assert refused.value.field == "tier"
    assert "innovative, provincial, national" in refused.value.detail


# ------------------------------------------------------------------------------ the data itself


def test_indicator_catalogue_is_data_and_the_same_in_every_rulebook() -> None:
    catalogue = indicator_catalogue(R22)
    assert catalogue["rd_ratio"].unit == "ratio"
    assert catalogue["rd_ratio"].derive == ("rd_spend", "revenue")
    assert catalogue["main_business_share"].maximum == 1
    assert catalogue["revenue"].unit == "CNY"
    assert catalogue["revenue"].minimum == 0
    assert catalogue.keys() == indicator_catalogue(R26).keys()
    assert {"revenue", "main_business_revenue", "revenue_growth", "rd_spend", "rd_ratio", "rd_staff_share",
            "debt_ratio", "ip_class1_count", "ip_class2_count", "ip_high_value_class1",
            "ip_self_developed_class1", "years_in_niche", "market_share", "strategic_emerging_field",
            "main_business_share", "certifications",
            "rd_institution_level", "awards", "equity_financing_3y"} <= catalogue.keys()


def test_every_shipped_tier_compiles_and_is_cached() -> None:
    for book in all_rulebooks():
        for tier in ("innovative", "provincial", "national"):
            assert criteria_for(book, tier) is criteria_for(book, tier)


def _walk_tables(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found += _walk_tables(value, f"{path}.{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found += _walk_tables(value, f"{path}[{n}]")
    return found


@pytest.mark.parametrize("book", all_rulebooks(), ids=lambda book: book.id)
def test_every_condition_band_and_category_has_a_source_and_both_labels(book: Any) -> None:
    section = book.sections["eligibility"]
    tables = _walk_tables(section["tiers"]) + _walk_tables(section["shared"])
    sourced = [(path, table) for path, table in tables
               if "points" in table or "kind" in table or "min_points" in table or "require" in table
               or "max_points" in table]
    assert len(sourced) > 60
    for path, table in sourced:
        assert table.get("source"), path
        assert table.get("label_zh"), path
        assert table.get("label_en"), path


def _broken(mutate: Any) -> dict[str, Any]:
    section = copy.deepcopy(dict(R22.sections["eligibility"]))
    mutate(section["tiers"]["innovative"]["conditions"]["score"]["items"][1]["bands"])
    return section


@pytest.mark.parametrize(("mutate", "says"), [
    (lambda bands: bands[1].update(lower_inclusive=False), "included in neither"),
    (lambda bands: bands[1].update(upper_inclusive=True), "included in both"),
    (lambda bands: bands[1].update(upper=0.045), "gap or overlap"),
    (lambda bands: bands[2].pop("lower_inclusive"), "is the bound included"),
    (lambda bands: bands[3].pop("source"), "`source` is required"),
    (lambda bands: bands[4].update(lower=0.0, lower_inclusive=True), "open below"),
])
def test_ambiguous_or_unsourced_bands_are_refused(mutate: Any, says: str) -> None:
    with pytest.raises(CriteriaError, match=says):
        compile_criteria(_broken(mutate), "innovative")
