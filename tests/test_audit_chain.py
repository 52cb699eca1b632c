"""The audit trail: its exported fields, a hash chain a third party can recompute, and a database that
refuses to change it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest
from helpers import ADMIN, Factory, enroll, events, fire, footprint, load, make_uscc, walk
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from pipeline.db import unit_of_work
from pipeline.errors import InvalidInput
from pipeline.firms import service
from pipeline.lifecycle.chain import event_document
from pipeline.rulebooks import get_rulebook

SPEC_FIELDS = {"uscc", "seq", "kind", "trigger", "from_state", "to_state", "effective_date", "recorded_at",
               "actor", "reason_code", "reason", "evidence", "rulebook_id", "rulebook_hash", "request_id",
               "prev_hash", "hash"}
RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def _history(factory: Factory, uscc: str) -> None:
    walk(factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"),
                         ("recognize_provincial", "2023-02-01"), ("demote", "2023-06-01")])
    with unit_of_work(factory) as session:
        service.amend(session, uscc, changes={"name": "郑州精工科技有限公司", "data": {"行业": "装备制造"}},
                      actor=ADMIN, reason="更名", request_id="req-7")


def test_every_event_has_exactly_the_fields_of_the_spec(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 1)
    _history(session_factory, uscc)
    documents = [event_document(event) for event in events(session_factory, uscc)]
    assert len(documents) == 5
    for document in documents:
        assert set(document) == SPEC_FIELDS
    assert [d["kind"] for d in documents] == ["transition"] * 4 + ["amendment"]
    assert documents[-1]["request_id"] == "req-7"


def _recompute(exported: list[dict[str, Any]]) -> list[str]:
    """The recipe a third party runs, written out here so that it does not lean on pipeline.lifecycle.chain."""
    problems = []
    previous: dict[str, str] = {}
    for document in exported:
        fields = {name: value for name, value in document.items() if name not in ("prev_hash", "hash")}
        prev_hash = previous.get(document["uscc"], "0" * 64)
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()
        if document["prev_hash"] != prev_hash or document["hash"] != digest:
            problems.append(f"{document['uscc']}#{document['seq']}")
        previous[document["uscc"]] = document["hash"]
    return problems


def test_an_exported_history_is_verified_from_its_fields_alone(session_factory: Factory) -> None:
    first, second = make_uscc("410106", 2), make_uscc("410100", 3)
    _history(session_factory, first)
    walk(session_factory, second, [("enroll", "2023-01-01"), ("revoke", "2023-02-01")])

    exported = json.loads(json.dumps(
        [event_document(e) for e in events(session_factory, first) + events(session_factory, second)],
        ensure_ascii=False))

    assert [d["seq"] for d in exported] == [1, 2, 3, 4, 5, 1, 2]
    assert exported[0]["prev_hash"] == exported[5]["prev_hash"] == "0" * 64  # one chain per firm
    assert _recompute(exported) == []

    exported[2]["effective_date"] = "2023-01-31"  # backdating one decision …
    assert _recompute(exported) == [f"{first}#3"]
    exported[2]["hash"] = "f" * 64  # … and covering it up breaks the next link instead
    assert _recompute(exported) == [f"{first}#3", f"{first}#4"]


def test_recorded_at_is_utc_with_microseconds_and_effective_date_is_a_plain_date(
    session_factory: Factory,
) -> None:
    uscc = make_uscc("410106", 4)
    started = dt.datetime.now(dt.UTC)
    _history(session_factory, uscc)
    documents = [event_document(event) for event in events(session_factory, uscc)]
    for document in documents:
        assert RECORDED_AT.fullmatch(document["recorded_at"]), document["recorded_at"]
        recorded = dt.datetime.strptime(document["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        assert started <= recorded <= dt.datetime.now(dt.UTC)
        assert dt.date.fromisoformat(document["effective_date"])
    assert [d["recorded_at"] for d in documents] == sorted(d["recorded_at"] for d in documents)
    assert documents[3]["effective_date"] == "2023-06-01"


@pytest.mark.parametrize(("on", "rulebook_id"), [("2023-03-01", "miit-2022"), ("2026-03-31", "miit-2022"),
                                                 ("2026-04-01", "miit-2026"), ("2026-05-01", "miit-2026")])
def test_an_event_records_the_rulebook_in_force_on_its_effective_date(
    session_factory: Factory, on: str, rulebook_id: str
) -> None:
    uscc = make_uscc("410106", 5)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", on)])
    enrolled, recognized = events(session_factory, uscc)
    assert (enrolled.rulebook_id, enrolled.rulebook_hash) == ("miit-2022", get_rulebook("miit-2022").content_hash)
    assert (recognized.rulebook_id, recognized.rulebook_hash) == (rulebook_id, get_rulebook(rulebook_id).content_hash)
    assert re.fullmatch(r"[0-9a-f]{64}", recognized.rulebook_hash)
    assert get_rulebook("miit-2022").content_hash != get_rulebook("miit-2026").content_hash


@pytest.mark.parametrize("statement", ["UPDATE events SET reason = 'rewritten' WHERE seq = 1",
                                       "DELETE FROM events WHERE seq = 2",
                                       "TRUNCATE events"])
def test_the_database_refuses_to_change_or_delete_events(
    engine: Engine, session_factory: Factory, dialect: str, statement: str
) -> None:
    if statement.startswith("TRUNCATE") and dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE trigger covers the same ground")
    uscc = make_uscc("410106", 6)
    walk(session_factory, uscc, [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01")])
    before = [event_document(e) for e in events(session_factory, uscc)]

    with pytest.raises(DBAPIError) as refused, engine.begin() as connection:
        connection.execute(text(statement))
    assert "append-only" in str(refused.value)
    assert [event_document(e) for e in events(session_factory, uscc)] == before


def test_an_amendment_is_an_event_carrying_the_changed_fields(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 7)
    enroll(session_factory, uscc, "2022-09-01", name="上街精密", data={"行业": "铝加工", "联系人": "王"})
    fire(session_factory, uscc, "recognize_innovative", "2022-09-01")

    with unit_of_work(session_factory) as session:
        outcome = service.amend(session, uscc, actor=ADMIN, reason="工商变更",
                                changes={"name": "上街精密科技", "data": {"联系人": "李", "行业": None}})

    firm = load(session_factory, uscc)
    assert (firm.name, firm.data, firm.version, firm.state) == ("上街精密科技", {"联系人": "李"}, 3, "innovative")
    amendment = events(session_factory, uscc)[-1]
    assert amendment.hash == outcome.event.hash
    assert (amendment.seq, amendment.kind, amendment.trigger) == (3, "amendment", None)
    assert amendment.from_state == amendment.to_state == "innovative"
    assert amendment.reason == "工商变更"
    assert amendment.evidence == {"changes": {
        "name": {"from": "上街精密", "to": "上街精密科技"},
        "data": {"from": {"行业": "铝加工", "联系人": "王"}, "to": {"联系人": "李"}},
    }}


def test_an_amendment_that_changes_nothing_writes_nothing(session_factory: Factory) -> None:
    uscc = make_uscc("410106", 8)
    enroll(session_factory, uscc, "2022-09-01", name="上街精密")
    before = footprint(session_factory, uscc)
    with pytest.raises(InvalidInput), unit_of_work(session_factory) as session:
        service.amend(session, uscc, actor=ADMIN, changes={"name": " 上街精密 "})
    assert footprint(session_factory, uscc) == before
