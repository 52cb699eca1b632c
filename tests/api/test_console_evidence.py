"""The console shows an event's evidence in Chinese: a filing's nested fields and each changed value as
"旧值 → 新值", never the stored keys."""

from __future__ import annotations

import datetime as dt
import re

from api.console.views import evidence_items
from pipeline.rulebooks import rulebook_in_force


def test_a_filings_evidence_reads_in_chinese() -> None:
    book = rulebook_in_force(dt.date(2026, 4, 8))
    items = evidence_items(book, {
        "annual_filing": {"year": 2025, "filed_on": "2026-04-08", "deadline": "2026-05-31", "on_time": True},
        "indicators": {"year": 2025, "changes": {"debt_ratio": {"from": None, "to": 0.46}}},
        "changes": {"name": {"from": "旧名称有限公司", "to": "新名称有限公司"}},
    })
    text = "；".join(f"{label}：{value}" for label, value in items)
    assert re.findall(r"[A-Za-z_]{3,}", text) == [], text
    assert "— → 0.46" in text
    assert ("企业名称", "旧名称有限公司 → 新名称有限公司") in items
    assert "按时报送：是" in text
