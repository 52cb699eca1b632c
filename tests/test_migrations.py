"""The migrations are the schema: the models match them, and they go down and up again cleanly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import Factory, enroll, make_uscc
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from pipeline import migrate
from pipeline.models import Base

TABLES = {"enterprises", "events", "recognitions", "principals", "idempotency_records"}


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": True})
        return list(compare_metadata(context, Base.metadata))


def test_the_models_and_the_migrations_do_not_drift(engine: Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert _drift(engine) == []


def test_the_head_every_command_checks_is_the_scripts_head(engine: Engine) -> None:
    """``pipeline`` commands, ``serve`` and ``/readyz`` compare the database with ``HEAD_REVISION`` instead of
    loading every script: a new migration must move it (this fails until it does)."""
    assert migrate.head_revision() == migrate.HEAD_REVISION
    with engine.connect() as connection:
        recorded = MigrationContext.configure(connection).get_current_heads()
    assert migrate.current_revision(engine) == ",".join(recorded) == migrate.HEAD_REVISION


def test_downgrade_to_base_and_upgrade_again(engine: Engine, session_factory: Factory, dialect: str) -> None:
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert TABLES.isdisjoint(inspect(engine).get_table_names())

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert _drift(engine) == []

    enroll(session_factory, make_uscc("410106", 1), "2022-09-01")
    statements = ["UPDATE events SET reason = 'rewritten'", "DELETE FROM events"]
    if dialect == "postgresql":
        statements.append("TRUNCATE events")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM events")) == 1


def test_filings_stored_with_json_null_indicators_become_sql_null(engine: Engine, session_factory: Factory,
                                                                   dialect: str) -> None:
    enroll(session_factory, make_uscc("410106", 1), "2022-09-01")
    migrate.downgrade(engine, "0014_accounts")
    json_null = "'null'::jsonb" if dialect == "postgresql" else "'null'"
    with engine.begin() as connection:  # what a filing recorded without indicators stored before
        connection.execute(text(
            "INSERT INTO annual_filings (enterprise_id, year, filed_on, recorded_at, actor, indicators) "
            f"SELECT id, 2024, '2025-04-01', '2025-04-01 08:00:00+00:00', 'p-admin', {json_null} FROM enterprises"))
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM annual_filings WHERE indicators IS NULL")) == 1
