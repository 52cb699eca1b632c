"""The candidate list reads indicator documents as text (orjson, several times faster): exactly as the column would."""

from __future__ import annotations

import json

import pytest

from pipeline.json_numbers import stored_value
from pipeline.screening.candidates import _indicators


@pytest.mark.parametrize("document", [
    '{"revenue": 2.0, "rd_spend": 300000.5, "years_in_niche": 7, "big": 10000000000000000, "own_brand": true, '
    '"certifications": ["high_tech_enterprise"], "awards": [{"type": "science", "year": 2024.0, "rank": 3}], '
    '"debt_ratio": null}',
    '{"revenue": 123456789012345678901234567890, "awards": [{"year": 2023}]}',  # orjson: a double, as stored_value
    '{"label": "\\ud800", "awards": [{"year": 2023}]}',  # orjson refuses a lone surrogate: json reads it
    "null",
])
def test_an_indicator_document_reads_as_the_column_reads_it(document: str) -> None:
    assert _indicators(document) == stored_value(json.loads(document))


def test_numbers_come_back_canonical() -> None:
    values = _indicators('{"revenue": 2.0, "big": 10000000000000000, "awards": [{"year": 2024.0}], "x": 0.5}')
    assert type(values["revenue"]) is int  # an integral float is stored as the integer
    assert type(values["big"]) is float  # JSONB's integer beyond 2^53 was a float
    assert type(values["awards"][0]["year"]) is int
    assert values["x"] == 0.5
    assert _indicators(None) is None
