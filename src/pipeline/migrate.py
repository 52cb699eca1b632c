"""Alembic, driven from code: `pipeline db upgrade`, `pipeline serve` and the tests all migrate this way."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from pipeline.errors import SchemaNotAtHead

_PACKAGE_DIR = Path(__file__).resolve().parent


def _ini_path() -> Path:
    """The repository's alembic.ini in a checkout, the copy shipped inside the wheel otherwise."""
    for candidate in (_PACKAGE_DIR.parents[1] / "alembic.ini", _PACKAGE_DIR / "_migrations" / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found beside the package; the installation is incomplete")


def alembic_config(engine: Engine | None = None) -> Config:
    ini = _ini_path()
    config = Config(str(ini))
    script_dir = ini.parent / "migrations" if (ini.parent / "migrations").is_dir() else ini.parent
    config.set_main_option("script_location", str(script_dir))
    config.attributes["configure_logging"] = False
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision() -> str | None:
    """The head(s) of the migration graph, comma-separated when feature branches have not been merged."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads)) or None


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


def require_head(engine: Engine) -> None:
    """Refuse to go on unless the schema is at head: what ``serve`` does under a restricted role, which may
    not (and must not be able to) change the schema. Migrations are the owner's job: ``pipeline db upgrade``
    with ``PIPELINE_MIGRATION_DATABASE_URL``."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotAtHead(f"数据库结构为 {current}，应为 {head} — the schema is at {current}, this code needs "
                              f"{head}: run `pipeline db upgrade` with PIPELINE_MIGRATION_DATABASE_URL (the owner)")


def is_known_revision(revision: str) -> bool:
    """Whether this installation's migrations contain ``revision`` (a newer pipeline may have migrated past it)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
