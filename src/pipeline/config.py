"""Settings from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InvalidInput

DEFAULT_SQLITE_FILE = "pipeline.db"
MIB = 1024 * 1024


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"环境变量{name}应为正整数 — {name} must be a positive integer, got {raw!r}",
                           field=name) from None
    if value <= 0:
        raise InvalidInput(f"环境变量{name}应为正整数 — {name} must be a positive integer, got {raw!r}", field=name)
    return value


@dataclass(frozen=True)
class ImportLimits:
    """What an uploaded .xlsx may inflate to; checked from the zip's directory before anything is inflated."""

    max_uncompressed_bytes: int = 256 * MIB
    """All members together, as the zip's central directory declares them (inflating stops at that size)."""
    max_ratio: int = 100
    """Uncompressed / compressed size of any member larger than 1 MiB (real workbooks stay below 20)."""
    max_members: int = 1000
    max_shared_strings: int = 1_000_000
    """``<si>`` items in ``xl/sharedStrings.xml`` (openpyxl holds them all in memory)."""
    max_shared_strings_bytes: int = 64 * MIB
    """The uncompressed size of ``xl/sharedStrings.xml``."""

    @classmethod
    def from_env(cls) -> ImportLimits:
        base = cls()
        return cls(
            max_uncompressed_bytes=_int_env("PIPELINE_XLSX_MAX_UNCOMPRESSED_BYTES", base.max_uncompressed_bytes),
            max_ratio=_int_env("PIPELINE_XLSX_MAX_RATIO", base.max_ratio),
            max_members=_int_env("PIPELINE_XLSX_MAX_MEMBERS", base.max_members),
            max_shared_strings=_int_env("PIPELINE_XLSX_MAX_SHARED_STRINGS", base.max_shared_strings),
            max_shared_strings_bytes=_int_env("PIPELINE_XLSX_MAX_SHARED_STRINGS_BYTES",
                                              base.max_shared_strings_bytes),
        )


MIGRATION_URL_ENV = "PIPELINE_MIGRATION_DATABASE_URL"
READ_URL_ENV = "PIPELINE_READ_DATABASE_URL"


@dataclass(frozen=True)
class Settings:
    database_url: str
    migration_database_url: str
    """The schema owner's URL, for migrations; the application's own URL unless set apart."""
    max_json_body_bytes: int = MIB
    """Largest request body that is not a file upload (JSON, forms); larger → 413 ``payload-too-large``."""
    max_upload_bytes: int = 64 * MIB
    """Largest multipart upload (imports)."""
    read_database_url: str | None = None
    """A PostgreSQL streaming standby for read-only traffic (history, roster, counts, exports, reports)."""

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        url = (database_url or os.environ.get("PIPELINE_DATABASE_URL")
               or f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}")
        return cls(database_url=url, migration_database_url=os.environ.get(MIGRATION_URL_ENV) or url,
                   max_json_body_bytes=_int_env("PIPELINE_MAX_JSON_BODY_BYTES", MIB),
                   max_upload_bytes=_int_env("PIPELINE_MAX_UPLOAD_BYTES", 64 * MIB),
                   read_database_url=os.environ.get(READ_URL_ENV) or None)

    @property
    def migrates_itself(self) -> bool:
        """Whether the application connects as the schema owner (then ``serve`` migrates before it starts)."""
        return self.migration_database_url == self.database_url
