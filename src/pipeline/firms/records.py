"""Plain records of a firm and its titles, for the write paths that use SQLAlchemy Core instead of the ORM
(the service's transitions, the bulk import). They carry exactly what the kernel and the event factory need,
plus what a write must know to touch only what changed.
企业与称号的普通记录（Core 写入路径使用）。
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pipeline.lifecycle.guards import PlainTitle


@dataclass(slots=True)
class TitleRecord(PlainTitle):
    """A title row as the Core write paths load and write it; ``id`` is ``None`` until written."""

    id: int | None = None
    stored_end: tuple[dt.date | None, str | None, int | None] = (None, None, None)
    """``(ended_on, end_reason, ended_by_seq)`` as loaded: a stored title whose end differs is updated."""

    def end_changed(self) -> bool:
        return (self.ended_on, self.end_reason, self.ended_by_seq) != self.stored_end


@dataclass(slots=True)
class FirmRecord:
    """A firm as the Core write paths (the service's transitions, the bulk import) load and write it: the
    machine fires on it and :func:`pipeline.lifecycle.decide.apply_titles` keeps its titles."""

    uscc: str
    name: str
    region_code: str
    state: str
    version: int
    last_seq: int
    barred_until: dt.date | None
    last_effective_date: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    recognitions: list[TitleRecord] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    """``None`` for a firm a bulk import creates, until its writer draws the id."""
    head_hash: str | None = None
    """The hash of the firm's latest event (the previous hash of its next one)."""
    head_import: dict[str, Any] | None = None
    """The ``import`` evidence of its latest stored event, if that event came from the import loading it."""
    stored_version: int = 0
    """``version`` as loaded (0 for a new firm): a stored firm whose version moved is updated."""
    side_titles: list[tuple[str, dt.date, dt.date, dt.date | None]] = field(default_factory=list)
    """``(kind, granted_on, valid_until, ended_on)`` of its side titles — loaded for recognitions only (the
    eligibility warning reads them)."""
