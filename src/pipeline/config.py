"""Settings from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SQLITE_FILE = "pipeline.db"


MIGRATION_URL_ENV = "PIPELINE_MIGRATION_DATABASE_URL"


@dataclass(frozen=True)
class Settings:
    database_url: str
    migration_database_url: str
    """The schema owner's URL, for migrations; the application's own URL unless set apart."""

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        url = (database_url or os.environ.get("PIPELINE_DATABASE_URL")
               or f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}")
        return cls(database_url=url, migration_database_url=os.environ.get(MIGRATION_URL_ENV) or url)

    @property
    def migrates_itself(self) -> bool:
        """Whether the application connects as the schema owner (then ``serve`` migrates before it starts)."""
        return self.migration_database_url == self.database_url
