"""The hash chain's recipes: new events are sealed with RFC 8785 (jcs-1) and say so, old ones (pyjson-1) keep
verifying, numbers never raise a false alarm, and verify catches a back-dated event slipped in by INSERT."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from chain_support import old_recipe_firm
from helpers import ADMIN, Factory, enroll, events, fire, load, make_uscc
from hypothesis import given, settings
from hypothesis import strategies as st
from imports_support import do_import, write_csv
from sqlalchemy import Engine, insert, text

import pipeline.lifecycle.events as event_factory
from pipeline.db import unit_of_work
from pipeline.errors import InvalidInput
from pipeline.firms import service
from pipeline.history import verify
from pipeline.json_numbers import MAX_SAFE_INTEGER, canonical_value
from pipeline.lifecycle import chain
from pipeline.models import Event
from pipeline.rulebooks import rulebook_in_force

#: What JSONB rewrites (1e16 → 10000000000000000, -0.0 → 0.0, 1e300 → 1000…0) beside what it keeps.
EXTREME = {"amount": 1e16, "negative_zero": -0.0, "huge": 1e300, "long": 1.2345678901234567e19, "tiny": 5e-324,
           "half": 0.5, "two": 2.0, "big_int": 2**53 - 1, "small_int": -(2**53 - 1), "𝄞 key": "𝄞 value",
           "empty": {}, "none": [], "nested": [{"x": [1e-7, -1.5e-300]}]}


def _report(factory: Factory) -> verify.Report:
    with factory() as session:
        return verify.verify(session)


def test_new_events_are_sealed_with_rfc_8785_and_say_so(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 1)
    enroll(session_factory, uscc, "2025-01-10")
    fire(session_factory, uscc, "recognize_innovative", "2025-02-01", evidence={"document_no": "豫〔2025〕1号",
                                                                                 **EXTREME})
    stored = events(session_factory, uscc)
    assert [e.hash_recipe for e in stored] == ["jcs-1", "jcs-1"]
    prev = chain.GENESIS_HASH
    for event in stored:
        fields = chain.event_fields(event)
        assert event.hash == hashlib.sha256(prev.encode() + rfc8785.dumps(fields)).hexdigest()
        prev = event.hash
    evidence = chain.event_fields(stored[1])["evidence"]
    assert evidence["two"] == 2
    assert isinstance(evidence["two"], int)
    assert evidence["negative_zero"] == 0
    assert isinstance(evidence["negative_zero"], int)
    assert evidence["amount"] == 1e16
    assert evidence["huge"] == 1e300
    assert evidence["long"] == 1.2345678901234567e19
    assert isinstance(evidence["huge"], float)  # JSONB's integer is read back as the float it was
    assert _report(session_factory).ok


def test_extreme_numbers_never_raise_a_false_alarm(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 2)
    enroll(session_factory, uscc, "2025-01-10", data=EXTREME)
    with unit_of_work(session_factory) as session:
        service.amend(session, uscc, changes={"data": {"amount": 3e17, "half": -0.25}}, actor=ADMIN)
    report = _report(session_factory)
    assert report.ok, report.problems
    assert report.warnings == []


def test_integers_beyond_2_53_and_non_finite_numbers_are_refused_naming_the_field(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 3)
    enroll(session_factory, uscc, "2025-01-10")
    for bad, field in (({"n": 2**53}, "evidence.n"), ({"a": [1, {"b": -(2**60)}]}, "evidence.a[1].b"),
                       ({"x": float("nan")}, "evidence.x"), ({"x": float("inf")}, "evidence.x")):
        with pytest.raises(InvalidInput) as refused:
            fire(session_factory, uscc, "recognize_innovative", "2025-02-01",
                 evidence={"document_no": "豫〔2025〕1号", **bad})
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as refused:
        enroll(session_factory, make_uscc("410106", 4), "2025-01-10", data={"employees": 10**16})
    assert refused.value.field == "evidence.data.employees"
    assert len(events(session_factory, uscc)) == 1


def test_enroll_data_goes_into_the_enroll_event(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 5)
    enroll(session_factory, uscc, "2025-01-10", data={"联系人": "张三", "employees": 120})
    first = chain.event_fields(events(session_factory, uscc)[0])
    assert first["evidence"]["data"] == {"联系人": "张三", "employees": 120}
    enroll(session_factory, make_uscc("410106", 6), "2025-01-10")
    assert chain.event_fields(events(session_factory, make_uscc("410106", 6))[0])["evidence"]["data"] == {}


def test_old_recipe_events_keep_verifying_and_numbers_jsonb_rewrote_are_a_warning(
        session_factory: Factory, dialect: str) -> None:
    old = make_uscc("410106", 7)
    old_recipe_firm(session_factory, old, {"amount": 1e16, "negative_zero": -0.0, "plain": 3})
    fire(session_factory, old, "recognize_innovative", "2025-02-01")  # a new event on an old chain
    assert [e.hash_recipe for e in events(session_factory, old)] == [None, None, "jcs-1"]
    report = _report(session_factory)
    assert report.ok, report.problems
    if dialect == "postgresql":  # JSONB gave 10000000000000000 and 0.0 back; as Python floats the hash matches
        assert [(w.uscc, w.seq, w.warning) for w in report.warnings] == [(old, 2, "number-form-rewritten")]
    else:
        assert report.warnings == []
    assert report.as_dict()["warnings"] == [w.as_dict() for w in report.warnings]


def test_an_edited_old_event_is_still_a_problem(engine: Engine, session_factory: Factory) -> None:
    old = make_uscc("410106", 8)
    old_recipe_firm(session_factory, old, {"amount": 1e16})
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER events_refuse_update"))
        connection.execute(text("UPDATE events SET reason = 'rewritten' WHERE seq = 2"))
    report = _report(session_factory)
    assert [(p.uscc, p.seq) for p in report.problems] == [(old, 2)]


def test_an_old_decrease_of_recorded_at_is_a_warning(session_factory: Factory) -> None:
    old = make_uscc("410106", 9)
    old_recipe_firm(session_factory, old, {"note": "x"}, decreasing=True)
    report = _report(session_factory)
    assert report.ok, report.problems
    assert [(w.seq, w.warning) for w in report.warnings] == [(2, "recorded-at-decreased")]


def _forge(engine: Engine, uscc: str, *, recorded_at: dt.datetime, recipe: str | None) -> None:
    """Append an amendment by a direct INSERT, correctly hashed, and move the firm's last_seq along."""
    with engine.begin() as connection:
        head = connection.execute(text("SELECT seq, hash, enterprise_id FROM events WHERE uscc = :u "
                                       "ORDER BY seq DESC LIMIT 1"), {"u": uscc}).one()
        day = dt.date(2025, 2, 1)
        book = rulebook_in_force(day)
        fields = {"uscc": uscc, "seq": head.seq + 1, "kind": "amendment", "trigger": None,
                  "from_state": "innovative", "to_state": "innovative", "effective_date": day.isoformat(),
                  "recorded_at": chain.format_timestamp(recorded_at), "actor": ADMIN.id, "reason_code": None,
                  "reason": "back-dated", "evidence": {"changes": {"name": {"from": "a", "to": "b"}}},
                  "rulebook_id": book.id, "rulebook_hash": book.content_hash, "request_id": None}
        connection.execute(insert(Event).values(
            enterprise_id=head.enterprise_id, **{**fields, "effective_date": day, "recorded_at": recorded_at},
            prev_hash=head.hash, hash=chain.chain_hash(head.hash, fields, recipe or chain.PYJSON),
            hash_recipe=recipe))
        connection.execute(text("UPDATE enterprises SET last_seq = last_seq + 1 WHERE uscc = :u"), {"u": uscc})


@pytest.mark.parametrize("recipe", ["jcs-1", None])
def test_a_back_dated_event_inserted_directly_is_named_by_firm_and_seq(
        engine: Engine, session_factory: Factory, recipe: str | None) -> None:
    uscc, other = make_uscc("410106", 10), make_uscc("410106", 11)
    for code in (uscc, other):
        enroll(session_factory, code, "2025-01-10")
        fire(session_factory, code, "recognize_innovative", "2025-02-01")
    assert _report(session_factory).ok
    first = events(session_factory, uscc)[0].recorded_at
    _forge(engine, uscc, recorded_at=first - dt.timedelta(days=30), recipe=recipe)
    report = _report(session_factory)
    assert not report.ok
    assert {(p.uscc, p.seq) for p in report.problems} == {(uscc, 3)}
    assert any("recorded_at" in p.problem for p in report.problems) == (recipe == "jcs-1")
    if recipe is None:  # the old recipe, after the first jcs-1 event: slipped in behind the application's back
        assert any("pyjson-1" in p.problem for p in report.problems)


def test_writers_keep_recorded_at_increasing_when_the_clock_goes_back(
        session_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    uscc = make_uscc("410106", 12)
    enroll(session_factory, uscc, "2025-01-10")
    head = events(session_factory, uscc)[-1].recorded_at
    behind = head - dt.timedelta(hours=1)  # another host whose clock is an hour slow
    monkeypatch.setattr(event_factory, "utc_now", lambda: behind)  # the one clock every writer reads
    fire(session_factory, uscc, "recognize_innovative", "2025-02-01")
    with unit_of_work(session_factory) as session:
        service.amend(session, uscc, changes={"name": "新名称"}, actor=ADMIN)
    recorded = [e.recorded_at for e in events(session_factory, uscc)]
    step = dt.timedelta(microseconds=1)
    assert recorded == [head, head + step, head + 2 * step]
    assert load(session_factory, uscc).updated_at == recorded[-1]  # the firm's updated_at is its head's time
    assert _report(session_factory).ok


def test_the_import_keeps_recorded_at_increasing_too(session_factory: Factory, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    uscc, new = make_uscc("410106", 13), make_uscc("410106", 14)
    enroll(session_factory, uscc, "2025-01-10")
    head = events(session_factory, uscc)[-1].recorded_at
    monkeypatch.setattr(event_factory, "utc_now", lambda: head - dt.timedelta(hours=1))
    source = write_csv(tmp_path / "list.csv", [[1, uscc, "测试企业", "410106", "2025-02-01", "豫〔2025〕9号"],
                                               [2, new, "新企业", "410106", "2025-02-01", "豫〔2025〕9号"]])
    summary, _ = do_import(session_factory, source, ADMIN, "enroll", apply=True)
    assert summary.problems == 0
    source = write_csv(tmp_path / "list2.csv", [[1, uscc, "测试企业", "410106", "2025-02-01", "豫〔2025〕9号"]])
    summary, _ = do_import(session_factory, source, ADMIN, "recognize_innovative", apply=True)
    assert summary.problems == 0
    recorded = [e.recorded_at for e in events(session_factory, uscc)]
    assert recorded == [head, head + dt.timedelta(microseconds=1)]
    new_firm = events(session_factory, new)
    assert [e.hash_recipe for e in new_firm] == ["jcs-1"]
    assert chain.event_fields(new_firm[0])["evidence"]["data"] == {}
    assert _report(session_factory).ok


def test_pages_of_several_firms_never_name_one_seq_with_two_recipes() -> None:
    class Row:
        def __init__(self, seq: int, recipe: str | None) -> None:
            self.seq, self.hash_recipe = seq, recipe

    rows = [Row(1, None), Row(2, None), Row(1, "jcs-1"), Row(3, "jcs-1")]
    assert chain.hash_recipes(rows) == (2, {"1": "pyjson-1", "2": "pyjson-1"})
    assert chain.hash_recipes(rows[2:]) == (2, {"1": "jcs-1", "3": "jcs-1"})
    assert chain.hash_recipes([]) == (0, {})


# --- the fast path --------------------------------------------------------------------------------------

_keys = st.text(max_size=6)
_numbers = (st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
            | st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(st.none() | st.booleans() | _numbers | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                     max_leaves=20)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_json)
def test_the_fast_path_writes_exactly_what_rfc_8785_writes(document: Any) -> None:
    assert chain.jcs_json(document).encode("utf-8") == rfc8785.dumps(document)
    assert chain.jcs_json(canonical_value(document)) == chain.jcs_json(document)


def test_the_fast_path_is_taken_only_where_it_agrees() -> None:
    assert chain._plain({"a": [1, "x", None, True], "b": {"c": 9007199254740991}})
    for document in ({"a": 1.5}, {"a": 2.0}, {"𝄞": 1}, {"a": 2**53}):
        assert not chain._plain(document)
    # keys beyond the BMP sort by UTF-16 code units: U+1D11E (D834 DD1E) before U+FF61
    assert chain.jcs_json({"\uff61": 1, "𝄞": 2}) == '{"𝄞":2,"\uff61":1}'
