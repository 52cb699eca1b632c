"""The fast paths the slow paths at province scale now take give exactly what the plain definitions give: the
hash verification recomputes, JSON numbers read back from the database, and a clean USCC's check."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from pipeline.errors import InvalidInput, InvalidUSCC
from pipeline.identifiers import validate_uscc
from pipeline.json_numbers import MAX_SAFE_INTEGER, canonical_value, stored_value
from pipeline.lifecycle import chain

_keys = st.text(max_size=6)
_json = st.recursive(st.none() | st.booleans() | st.integers(-2**60, 2**60)
                     | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                     max_leaves=20)
_text = st.none() | st.text(max_size=12)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(evidence=st.dictionaries(_keys, _json, max_size=4), reason=_text, trigger=_text, seq=st.integers(1, 2**31),
       recorded_at=st.datetimes(timezones=st.just(dt.UTC)), effective_date=st.dates(),
       recipe=st.sampled_from(chain.RECIPES))
def test_verification_recomputes_the_hash_the_recipe_gives(evidence: dict[str, Any], reason: str | None,
                                                           trigger: str | None, seq: int, recorded_at: dt.datetime,
                                                           effective_date: dt.date, recipe: str) -> None:
    event = SimpleNamespace(uscc="91410106MA0000001X", seq=seq, kind="transition", trigger=trigger,
                            from_state=None, to_state="reserve", effective_date=effective_date,
                            recorded_at=recorded_at, actor="p-1", reason_code=None, reason=reason, evidence=evidence,
                            rulebook_id="miit-2022", rulebook_hash="a" * 64, request_id=None, hash_recipe=recipe)
    expected = chain.chain_hash("f" * 64, chain.event_fields(event), recipe)  # type: ignore[arg-type]
    assert chain.recompute_hash(event, "f" * 64, recipe) == expected


def _stored_value_by_definition(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value) if abs(value) > MAX_SAFE_INTEGER else value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER else value
    if isinstance(value, dict):
        return {key: _stored_value_by_definition(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stored_value_by_definition(item) for item in value]
    return value


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_json)
def test_numbers_read_back_are_put_in_canonical_form_as_defined(document: Any) -> None:
    expected = _stored_value_by_definition(document)
    got = stored_value(document)
    assert got == expected
    assert repr(got) == repr(expected)  # the same types too: 2.0 → 2, 1e16 stays a float


def _canonical_by_definition(value: Any, field: str = "evidence") -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise InvalidInput(field, field=field)
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(field, field=field)
        return int(value) if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER else value
    if isinstance(value, dict):
        return {key: _canonical_by_definition(item, f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_by_definition(item, f"{field}[{index}]") for index, item in enumerate(value)]
    return value


_any_number = st.integers(-2**60, 2**60) | st.floats()
_raw = st.recursive(st.none() | st.booleans() | _any_number | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                    max_leaves=20)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_raw)
def test_numbers_sealed_are_put_in_canonical_form_or_refused_naming_the_field_as_defined(document: Any) -> None:
    refused_field: str | None = None
    expected: Any = None
    try:
        expected = _canonical_by_definition(document)
    except InvalidInput as refused:
        refused_field = refused.field
    if refused_field is not None:
        with pytest.raises(InvalidInput) as got:
            canonical_value(document)
        assert got.value.field == refused_field
        return
    assert repr(canonical_value(document)) == repr(expected)  # the same values and types (2.0 → 2, -0.0 → 0)


_any_text = st.text(st.characters(codec="utf-8"), max_size=8)  # every code point but surrogates: controls, U+2028 …
_native_json = st.recursive(st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | _any_text,
                            lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(_any_text, inner, max_size=4), max_leaves=20)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(_native_json)
def test_json_of_its_own_types_is_written_by_orjson_exactly_as_json_dumps_and_rfc_8785_write_it(document: Any) -> None:
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert chain.canonical_json(document) == expected
    if all(ord(char) <= 0xFFFF for key in _keys_of(document) for char in key):  # RFC 8785 sorts by UTF-16
        assert chain.jcs_json(document) == expected == rfc8785.dumps(document).decode("utf-8")


def _keys_of(document: Any) -> list[str]:
    if isinstance(document, dict):
        return [*document, *(key for item in document.values() for key in _keys_of(item))]
    if isinstance(document, list):
        return [key for item in document for key in _keys_of(item)]
    return []


def test_what_orjson_refuses_or_json_writes_otherwise_is_left_to_json() -> None:
    lone_surrogate = {"a": "\ud800"}
    assert chain.canonical_json(lone_surrogate) == json.dumps(lone_surrogate, sort_keys=True, separators=(",", ":"),
                                                              ensure_ascii=False)
    deep: Any = []
    for _ in range(300):  # deeper than orjson's 255 levels
        deep = [deep]
    assert chain.canonical_json(deep) == "[" * 301 + "]" * 301
    for not_own in ({"d": dt.date(2025, 1, 1)}, {"t": (1, 2)}, {1: "int key"}, {"f": 1.0}, {"n": 2**53}):
        try:
            expected = json.dumps(not_own, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except TypeError:
            with pytest.raises(TypeError):
                chain.canonical_json(not_own)
        else:
            assert chain.canonical_json(not_own) == expected


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.text(alphabet="0123456789A", min_size=8, max_size=8),
       st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=9, max_size=9),
       st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
def test_a_clean_code_is_checked_as_the_library_checks_it(head: str, tail: str, last: str) -> None:
    body = head + tail
    code = body + last
    if stdnum_uscc.is_valid(code):
        assert validate_uscc(code) == code
    else:
        with pytest.raises(InvalidUSCC):
            validate_uscc(code)
    if body[:8].isdigit() and all(char in "0123456789ABCDEFGHJKLMNPQRTUWXY" for char in body):
        valid = body + stdnum_uscc.calc_check_digit(body)
        assert validate_uscc(valid) == valid
