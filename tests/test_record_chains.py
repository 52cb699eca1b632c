"""Record chains beside the firms' (loans, targets, rounds …): sealed, append-only, checked by ``audit verify``."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.history import ledger, verify
from pipeline.lifecycle.chain import GENESIS_HASH

Factory = sessionmaker[Session]


def _fill(factory: Factory) -> None:
    with factory.begin() as session:
        for n in range(3):
            ledger.append(session, "targets", "410100/2025", "set", {"items": [{"tier": "national", "value": n}]},
                          actor="p-city", request_id=f"r{n}")
        ledger.append(session, "loans", "p-bank", "record", {"amount_yuan": 9_007_199_254_740_991}, actor="p-bank")


def test_records_link_from_genesis_and_verify_clean(session_factory: Factory) -> None:
    _fill(session_factory)
    with session_factory() as session:
        chain = ledger.records(session, "targets", "410100/2025")
        assert [r.seq for r in chain] == [1, 2, 3]
        assert chain[0].prev_hash == GENESIS_HASH
        assert [r.prev_hash for r in chain[1:]] == [r.hash for r in chain[:-1]]
        assert [r.recorded_at for r in chain] == sorted({r.recorded_at for r in chain})
        assert ledger.records(session, "loans", "p-bank")[0].details == {"amount_yuan": 9_007_199_254_740_991}
        assert verify.verify(session).problems == []


def test_the_database_refuses_rewriting_a_record(session_factory: Factory, engine: Engine) -> None:
    _fill(session_factory)
    for statement in ("UPDATE chain_records SET actor = 'someone-else'", "DELETE FROM chain_records"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))


def test_a_duplicate_seq_is_refused(session_factory: Factory) -> None:
    _fill(session_factory)
    copy = ("INSERT INTO chain_records (chain, key, seq, action, recorded_at, actor, details, prev_hash, hash) "
            "SELECT chain, key, seq, action, recorded_at, actor, details, prev_hash, hash FROM chain_records "
            "WHERE chain = 'loans'")
    with pytest.raises(IntegrityError), session_factory.begin() as session:
        session.execute(text(copy))


def test_verify_names_a_changed_record(session_factory: Factory, engine: Engine) -> None:
    _fill(session_factory)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER chain_records_refuse_update"))
        connection.execute(text("UPDATE chain_records SET actor = 'forger' WHERE chain = 'targets' AND seq = 2"))
    with session_factory() as session:
        problems = [(p.uscc, p.seq) for p in verify.verify(session).problems]
        scoped = verify.verify(session, region_prefix="4101").problems
    assert problems == [("targets/410100/2025", 2)]
    assert scoped == []
