"""Local overlays: Henan's 特色化 (distinctiveness) indicators scored beside the national provincial criteria.

Pure: no database. The Henan numbers are the overlay's illustrative example (5 + 5 + 5 = 15 points):
key industrial chain yes 5 / no 0; standards 0 → 0, 1 → 3, ≥ 2 → 5; featured products 0 → 0, 1 → 3, ≥ 2 → 5.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.eligibility.engine import CriteriaError, OverlayRef, compile_criteria, evaluate, validate_indicators
from pipeline.errors import InvalidInput
from pipeline.rulebooks import get_rulebook, overlay
from pipeline.rulebooks.overlay import overlays_for

R22 = get_rulebook("miit-2022")
R26 = get_rulebook("miit-2026")
ZHENGZHOU, BEIJING = "410106", "110105"
HENAN_FILE = overlay.OVERLAY_DIR / "henan.toml"
HENAN = OverlayRef("henan-2023", hashlib.sha256(HENAN_FILE.read_bytes()).hexdigest(), "410000")

#: The 2022 provincial firm of the engine tests, every national threshold met exactly, without provincial_score.
NATIONAL = {"independent_legal_person": True, "is_sme": True, "on_abnormal_or_dishonest_list": False,
            "major_incident_or_tax_violation_3y": False, "years_in_niche": 2, "rd_spend": 1_000_000,
            "rd_spend_prev": 900_000, "rd_ratio": 0.03, "revenue": 10_000_000, "equity_financing_2y": 0, "awards": []}
FULL = {"henan_key_chain_product": True, "henan_standards_count": 1, "henan_featured_products": 2}


def provincial(values: dict[str, Any], region: str | None = ZHENGZHOU, book: Any = R22) -> Any:
    return evaluate(book, "provincial", values, year=2024, holds_innovative=True, region_code=region)


def characteristic(result: Any) -> Any:
    return next(category for category in result.categories if category.code == "characteristic")


def test_a_zhengzhou_firm_gets_the_henan_characteristic_category_worked_example() -> None:
    result = provincial({**NATIONAL, **FULL})
    category = characteristic(result)
    assert (category.points, category.points_range, category.max_points, category.overlay) == (
        13, (13, 13), 15, "henan-2023")  # chain 5 + standards (1) 3 + featured products (2) 5
    assert [(item.code, item.points, item.band_en) for item in result.items] == [
        ("henan_key_chain_product", 5, "yes"), ("henan_standards", 3, "1"), ("henan_featured_products", 5, "2 or more")]
    assert result.overlays == (HENAN,)
    assert result.category_points == {"characteristic": 13}


@pytest.mark.parametrize(("count", "points"), [(0, 0), (1, 3), (2, 5), (7, 5)])
def test_standards_band_boundaries(count: int, points: int) -> None:
    result = provincial({**NATIONAL, **FULL, "henan_standards_count": count})
    assert next(item for item in result.items if item.code == "henan_standards").points == points
    assert characteristic(result).points == 5 + points + 5


def test_a_missing_indicator_is_unknown_never_zero() -> None:
    result = provincial({**NATIONAL, "henan_key_chain_product": False, "henan_standards_count": 2})
    category = characteristic(result)
    assert (category.points, category.points_range) == (None, (5, 10))  # chain 0 + standards 5 + products 0–5
    products = result.items[-1]
    assert (products.points, products.points_range, products.missing) == (None, (0, 5), ("henan_featured_products",))


def test_characteristic_points_never_complete_the_provincial_score() -> None:
    """Without provincial_score the national condition stays open; 特色化 points change no outcome."""
    local, national = provincial({**NATIONAL, **FULL}), provincial(NATIONAL, region=None)
    assert national.passed is None
    assert "provincial_score" in national.missing
    for field in ("passed", "total_points", "unmet", "missing", "gap", "direct_condition"):
        assert getattr(local, field) == getattr(national, field), field
    assert provincial({**NATIONAL, **FULL, "provincial_score": 60}).passed is True
    zero = {"henan_key_chain_product": False, "henan_standards_count": 0, "henan_featured_products": 0}
    assert provincial({**NATIONAL, **zero, "provincial_score": 60}).passed is True  # 0 特色化 points: still passes
    assert provincial({**NATIONAL, **FULL, "provincial_score": 59}).passed is False


@pytest.mark.parametrize("region", [None, BEIJING, "411200"])
def test_without_an_applicable_overlay_the_result_is_exactly_the_national_one(region: str | None) -> None:
    values = {**NATIONAL, "provincial_score": 70}
    if region == "411200":  # 三门峡 is in Henan too: same overlay, so compare only the other tier
        result = evaluate(R22, "innovative", {}, year=2024, region_code=region)
        assert result.to_dict() == evaluate(R22, "innovative", {}, year=2024).to_dict()
        return
    result = provincial(values, region=region)
    assert result.to_dict() == provincial(values, region=None).to_dict()
    assert (result.categories, result.overlays) == ((), ())


def test_the_overlay_applies_to_both_national_rulebooks_and_only_to_the_provincial_tier() -> None:
    assert characteristic(provincial(FULL, book=R26)).points == 13
    innovative = evaluate(R26, "innovative", FULL, year=2024, region_code=ZHENGZHOU)  # keys accepted, not scored
    assert ("characteristic" not in innovative.category_points, innovative.overlays) == (True, ())
    assert overlays_for(R22, ZHENGZHOU) == overlays_for("miit-2026", "410000")
    assert overlays_for(R22, ZHENGZHOU) is overlays_for(R22, ZHENGZHOU)  # cached
    assert overlays_for(R22, BEIJING) == overlays_for(R22, None) == overlays_for("no-such-book", ZHENGZHOU) == ()
    assert overlays_for(R22, ZHENGZHOU)[0].content_hash == HENAN.content_hash


def test_overlay_indicators_are_accepted_only_for_firms_in_the_region() -> None:
    assert validate_indicators(FULL, R22, region_code=ZHENGZHOU)["henan_standards_count"] == 1
    for region in (None, BEIJING):
        with pytest.raises(InvalidInput) as refused:
            validate_indicators(FULL, R22, region_code=region)
        assert refused.value.field == "henan_featured_products"  # the first unknown key, sorted
    with pytest.raises(InvalidInput) as bad:
        validate_indicators({"henan_standards_count": 1.5}, R22, region_code=ZHENGZHOU)
    assert bad.value.field == "henan_standards_count"
    with pytest.raises(InvalidInput):
        validate_indicators({"henan_key_chain_product": "yes"}, R22, region_code=ZHENGZHOU)


@pytest.fixture
def overlay_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(overlay, "OVERLAY_DIR", tmp_path)
    overlay.all_overlays.cache_clear()
    overlay._overlays_for.cache_clear()
    yield tmp_path
    overlay.all_overlays.cache_clear()
    overlay._overlays_for.cache_clear()


def test_an_overlay_worth_more_than_its_max_points_is_refused(overlay_dir: Path) -> None:
    text = HENAN_FILE.read_text(encoding="utf-8").replace("max_points = 15", "max_points = 14")
    (overlay_dir / "henan.toml").write_text(text, encoding="utf-8")
    criteria = compile_criteria(R22.sections["eligibility"], "provincial", rulebook_id="miit-2022",
                                content_hash="test-over-cap")
    with pytest.raises(CriteriaError, match="more than max_points 14"):
        criteria.evaluate({}, year=2024, region_code=ZHENGZHOU)


def test_an_overlay_may_not_redefine_a_national_indicator(overlay_dir: Path) -> None:
    text = HENAN_FILE.read_text(encoding="utf-8").replace("henan_standards_count", "revenue")
    (overlay_dir / "henan.toml").write_text(text, encoding="utf-8")
    criteria = compile_criteria(R22.sections["eligibility"], "provincial", rulebook_id="miit-2022",
                                content_hash="test-clash")
    with pytest.raises(CriteriaError, match="'revenue' is already defined"):
        criteria.evaluate({}, year=2024, region_code=ZHENGZHOU)
