"""Proof that history is intact: tampering directly in the database is reported with the exact seq, and
an anchor proves that nothing recorded before it changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers import ADMIN, Factory, fire, make_uscc, signing_key, walk
from sqlalchemy import Connection, Engine, text

from pipeline.cli import main
from pipeline.db import unit_of_work
from pipeline.history import verify

ROAD = [("enroll", "2022-09-01"), ("recognize_innovative", "2022-09-01"), ("recognize_provincial", "2022-10-01"),
        ("demote", "2023-06-01")]


@contextmanager
def tampering(engine: Engine) -> Iterator[Connection]:
    """A connection on which the append-only guard is off, as a rogue administrator would arrange."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS events_refuse_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS events_refuse_delete"))
        yield connection


def _problems(factory: Factory) -> list[tuple[str, int]]:
    with factory() as session:
        report = verify.verify(session)
    return [(p.uscc, p.seq) for p in report.problems]


@pytest.fixture
def firms(session_factory: Factory) -> list[str]:
    codes = [make_uscc("410106", n) for n in (1, 2)]
    for uscc in codes:
        walk(session_factory, uscc, ROAD)
    with session_factory() as session:
        report = verify.verify(session)
    assert report.ok
    assert report.firms_checked == 2
    assert report.events_checked == 8
    return codes


def test_an_edited_event_is_reported_at_its_seq(engine: Engine, session_factory: Factory, firms: list[str]) -> None:
    with tampering(engine) as connection:
        connection.execute(text("UPDATE events SET reason = '篡改' WHERE uscc = :u AND seq = 2"), {"u": firms[0]})
    assert _problems(session_factory) == [(firms[0], 2)]


def test_a_deleted_event_is_reported_at_its_seq(engine: Engine, session_factory: Factory, firms: list[str]) -> None:
    with tampering(engine) as connection:
        connection.execute(text("DELETE FROM events WHERE uscc = :u AND seq = 3"), {"u": firms[1]})
    assert (firms[1], 3) in _problems(session_factory)
    assert {seq for uscc, seq in _problems(session_factory) if uscc == firms[1]} <= {3, 4}
    with tampering(engine) as connection:
        connection.execute(text("DELETE FROM events WHERE uscc = :u AND seq = 4"), {"u": firms[0]})
    assert (firms[0], 4) in _problems(session_factory)


def test_a_state_changed_without_an_event_is_reported(engine: Engine, session_factory: Factory,
                                                      firms: list[str]) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE enterprises SET state = 'national' WHERE uscc = :u"), {"u": firms[0]})
        connection.execute(text("UPDATE recognitions SET valid_until = '2030-01-01' WHERE granted_by_seq = 2 AND "
                                "enterprise_id = (SELECT id FROM enterprises WHERE uscc = :u)"), {"u": firms[1]})
    assert sorted(_problems(session_factory)) == sorted([(firms[0], 4), (firms[1], 2)])


def test_the_cli_exits_non_zero_when_not_ok(engine: Engine, firms: list[str], database_url: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", database_url, "audit", "verify"]) == 0
    with tampering(engine) as connection:
        connection.execute(text("UPDATE events SET actor = 'someone' WHERE uscc = :u AND seq = 1"), {"u": firms[1]})
    assert main(["--database-url", database_url, "audit", "verify", "--uscc", firms[0]]) == 0
    assert main(["--database-url", database_url, "audit", "verify"]) == 1
    assert f'"uscc": "{firms[1]}"' in capsys.readouterr().out


def test_an_anchor_proves_earlier_history_unchanged(engine: Engine, session_factory: Factory,
                                                     firms: list[str]) -> None:
    with unit_of_work(session_factory) as session:
        anchor = verify.create_anchor(session, ADMIN, "季度审计", signing_key())
        assert (anchor.firms, anchor.events, len(anchor.digest)) == (2, 8, 64)
        anchor_id = anchor.id
    fire(session_factory, firms[0], "expire", "2025-09-01")  # later events do not disturb the anchor
    with session_factory() as session:
        result = verify.verify_anchor(session, anchor_id)
        assert result.ok
        assert result.recomputed_digest == result.anchor.digest
        assert result.events_checked == 8
    with tampering(engine) as connection:
        connection.execute(text("UPDATE events SET effective_date = '2022-10-02' WHERE uscc = :u AND seq = 3"),
                           {"u": firms[1]})
    with session_factory() as session:
        result = verify.verify_anchor(session, anchor_id)
        assert not result.ok
        assert result.recomputed_digest != result.anchor.digest
        assert next((p.uscc, p.seq) for p in result.problems) == (firms[1], 3)
