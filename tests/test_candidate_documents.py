"""The candidate list reads indicator documents as text (orjson, several times faster) and has the engine judge them
as stored: exactly as the column would give them back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.db import json_document
from pipeline.eligibility.engine import criteria_for
from pipeline.errors import InvalidInput
from pipeline.json_numbers import stored_value
from pipeline.rulebooks import get_rulebook

DOCUMENTS = [
    '{"revenue": 2.0, "rd_spend": 300000.5, "years_in_niche": 7, "big": 10000000000000000, "own_brand": true, '
    '"certifications": ["high_tech_enterprise"], "awards": [{"type": "science", "year": 2024.0, "rank": 3}], '
    '"debt_ratio": null}',
    '{"revenue": 123456789012345678901234567890, "awards": [{"year": 2023}]}',  # orjson: a double, as stored_value
    '{"label": "\\ud800", "awards": [{"year": 2023}]}',  # orjson refuses a lone surrogate: json reads it
    "null",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_an_indicator_document_reads_as_the_column_reads_it(document: str) -> None:
    assert stored_value(json_document(document)) == stored_value(json.loads(document))


@pytest.mark.parametrize("document", [
    *DOCUMENTS[:2],
    # integral floats as JSONB hands them back, also inside an award record, and a float beyond 2^53 handed back as
    # an integer orjson keeps (within 64 bits) in a rank the national criteria show when it fails
    '{"independent_legal_person": true, "is_sme": true, "revenue": 200000000.0, "revenue_prev": 150000000, '
    '"rd_spend": 9000000.0, "rd_spend_prev": 7000000.5, "years_in_niche": 6.0, "ip_class1_count": 4.0, '
    '"national_market_rank": 1234567890123456789, "market_share": 0.01, "certifications": ["management_system"], '
    '"awards": [{"type": "science", "level": "national", "year": 2024.0, "rank": 3.0}]}',
])
@pytest.mark.parametrize("tier", ["innovative", "provincial", "national"])
def test_a_document_is_judged_as_the_column_gives_it_back(document: str, tier: str) -> None:
    criteria = criteria_for(get_rulebook("miit-2026"), tier)

    def judged(values: Any, **options: Any) -> Any:
        try:
            return criteria.evaluate(values, year=2025, holds_innovative=True, holds_provincial=True, **options)
        except InvalidInput as refused:  # the same refusal either way
            return str(refused)

    assert judged(json_document(document), stored=True) == judged(stored_value(json.loads(document)))


def test_no_document_reads_as_none() -> None:
    assert json_document(None) is None
