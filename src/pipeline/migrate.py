"""Alembic, driven from code: `pipeline db upgrade`, `pipeline serve` and the tests all migrate this way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, column, inspect, select, table

from pipeline.errors import SchemaNotAtHead

if TYPE_CHECKING:
    from alembic.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parent

HEAD_REVISION = "0015_filings_without_indicators"
"""The newest migration: the schema this code needs. Every command checks the database against it before it
starts, and reading it from the migration scripts (alembic loads each one) took a fifth of a second of every
``pipeline`` command. ``tests/test_migrations.py`` holds it equal to the scripts' head."""
VERSION_TABLE = "alembic_version"
"""Where alembic records the revision (its default; ``migrations/env.py`` does not rename it)."""


def _ini_path() -> Path:
    """The repository's alembic.ini in a checkout, the copy shipped inside the wheel otherwise."""
    for candidate in (_PACKAGE_DIR.parents[1] / "alembic.ini", _PACKAGE_DIR / "_migrations" / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found beside the package; the installation is incomplete")


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    ini = _ini_path()
    config = Config(str(ini))
    script_dir = ini.parent / "migrations" if (ini.parent / "migrations").is_dir() else ini.parent
    config.set_main_option("script_location", str(script_dir))
    config.attributes["configure_logging"] = False
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision() -> str | None:
    """The head(s) of the migration graph, comma-separated when feature branches have not been merged."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads)) or None


def current_revision(engine: Engine) -> str | None:
    """The revision(s) the database is at, as alembic recorded them in its version table (read directly, without
    loading alembic); ``None`` for a database never migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        heads: list[str] = list(connection.execute(select(column("version_num")).select_from(table(VERSION_TABLE)))
                                .scalars())
    return ",".join(sorted(heads)) or None


def require_head(engine: Engine) -> None:
    """Refuse to go on unless the schema is at head: what ``serve`` does under a restricted role, which may
    not (and must not be able to) change the schema. Migrations are the owner's job: ``pipeline db upgrade``
    with ``PIPELINE_MIGRATION_DATABASE_URL``."""
    current, head = current_revision(engine), HEAD_REVISION
    if current != head:
        raise SchemaNotAtHead(f"数据库结构为 {current}，应为 {head} — the schema is at {current}, this code needs "
                              f"{head}: run `pipeline db upgrade` with PIPELINE_MIGRATION_DATABASE_URL (the owner)")


def is_known_revision(revision: str) -> bool:
    """Whether this installation's migrations contain ``revision`` (a newer pipeline may have migrated past it)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
