"""Test databases: every database test runs on SQLite and on PostgreSQL.

Each database is built once per session by ``alembic upgrade head`` (the real migrations) and then
cloned per test — a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL — so tests never
share data. PostgreSQL runs need ``PIPELINE_TEST_POSTGRES_URL``; without it they are skipped, saying so.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import clone_gate, template_copy
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import make_engine, make_session_factory
from pipeline.migrate import upgrade

POSTGRES_ENV = "PIPELINE_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV)
SKIP_POSTGRES = f"{POSTGRES_ENV} is not set: PostgreSQL runs skipped"

_counter = itertools.count()

class PostgresTemplate:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"pipeline_tpl_{os.getpid()}"
        self._drop(self.name)
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine = make_engine(self.url(self.name).render_as_string(hide_password=False))
        upgrade(engine)
        engine.dispose()

    def url(self, name: str):  # type: ignore[no-untyped-def]
        return self.admin_url.set(database=name)

    def clone(self) -> str:
        """A fresh copy of the template. Test databases are throwaway: their commits need not wait for the
        disk (``synchronous_commit = off``; durability, not visibility, is what that trades), which the
        suite's thousands of commits and ``CREATE DATABASE`` copies otherwise spend most of their time on."""
        name = f"pipeline_t_{os.getpid()}_{next(_counter)}"
        with clone_gate(), self.admin.connect() as conn:
            conn.execute(text("SET synchronous_commit = off"))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        return self.url(name).render_as_string(hide_password=False)

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def drop(self, url: str) -> None:
        self._drop(str(make_url(url).database))

    def close(self) -> None:
        self._drop(self.name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresTemplate]:
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    template = PostgresTemplate(POSTGRES_URL)
    yield template
    template.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database for this test alone."""
    with template_copy(request, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def dialect(engine: Engine) -> str:
    return engine.dialect.name
