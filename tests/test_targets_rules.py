"""Pure rules of issue 16: child regions by GB/T 2260 and the quota bonus a completion rate earns."""

from __future__ import annotations

from pipeline.identifiers import child_regions
from pipeline.targets.quotas import earned_bonus


def test_a_province_lists_its_cities_with_jiyuan_and_a_city_its_districts_and_counties() -> None:
    henan = child_regions("410000")
    assert len(henan) == 18  # 17 省辖市 and 济源
    assert henan[0] == "410100"
    assert henan[-1] == "419001"
    assert "419000" not in henan  # the grouping row of directly administered divisions
    zhengzhou = child_regions("410100")
    assert "410106" in zhengzhou
    assert "410122" in zhengzhou
    assert "410101" not in zhengzhou
    assert child_regions("419001") == []
    assert child_regions("410106") == []


def test_the_bonus_is_the_highest_threshold_reached() -> None:
    steps = [{"min_completion": 1.0, "extra": 3}, {"min_completion": 0.8, "extra": 1}]
    assert [earned_bonus(steps, c) for c in (None, 0.79, 0.8, 0.99, 1.0, 2.5)] == [0, 0, 1, 1, 3, 3]
