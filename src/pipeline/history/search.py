"""Auditor search over the events of a jurisdiction, and its streamed CSV / Excel exports.

Pages are keyset by event id (the order events were stored in), oldest or newest first. Exports iterate
the same query with a server-side cursor (``yield_per``: PostgreSQL streams a named cursor, SQLite steps
its cursor), so memory stays flat however many rows match.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.access import Actor
from pipeline.identifiers import region_prefix, validate_region
from pipeline.lifecycle.chain import HASHED_FIELDS, JCS, canonical_json, event_document, jcs_json, recipe_of
from pipeline.models import Enterprise, Event
from pipeline.spreadsheet import csv_safe, xlsx_text_cell

#: Export columns: the event's exported fields in HASHED_FIELDS order, the chain links, and the recipe that
#: sealed the hash (jcs-1 or pyjson-1).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("uscc", "统一社会信用代码"),
    ("seq", "序号"),
    ("kind", "类型"),
    ("trigger", "操作"),
    ("from_state", "原状态"),
    ("to_state", "新状态"),
    ("effective_date", "生效日期"),
    ("recorded_at", "记录时间"),
    ("actor", "操作人"),
    ("reason_code", "原因代码"),
    ("reason", "原因"),
    ("evidence", "证据"),
    ("rulebook_id", "规则版本"),
    ("rulebook_hash", "规则哈希"),
    ("request_id", "请求编号"),
    ("prev_hash", "前一哈希"),
    ("hash", "哈希"),
    ("hash_recipe", "哈希规则"),
)
assert tuple(name for name, _ in COLUMNS) == (*HASHED_FIELDS, "prev_hash", "hash", "hash_recipe")

EXPORT_BATCH = 2000
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class EventFilter:
    actor: str | None = None
    trigger: str | None = None
    kind: str | None = None
    region: str | None = None
    uscc: str | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    recorded_from: dt.datetime | None = None
    recorded_to: dt.datetime | None = None
    newest_first: bool = False


SEARCH_ROLES = ("auditor", "official", "admin")
"""Who may search the audit events (integrators follow the feed instead)."""


def events_query(caller: Actor, f: EventFilter) -> Select[Event]:
    query = select(Event)
    prefixes = [p for p in (caller.region_prefix,
                            region_prefix(validate_region(f.region, field="region")) if f.region else None) if p]
    if prefixes:
        query = query.join(Enterprise, Enterprise.id == Event.enterprise_id)
        for prefix in prefixes:
            query = query.where(Enterprise.region_code.startswith(prefix))
    if f.actor is not None:
        query = query.where(Event.actor == f.actor)
    if f.trigger is not None:
        query = query.where(Event.trigger == f.trigger)
    if f.kind is not None:
        query = query.where(Event.kind == f.kind)
    if f.uscc is not None:
        query = query.where(Event.uscc == f.uscc.strip().upper())
    if f.effective_from is not None:
        query = query.where(Event.effective_date >= f.effective_from)
    if f.effective_to is not None:
        query = query.where(Event.effective_date <= f.effective_to)
    if f.recorded_from is not None:
        query = query.where(Event.recorded_at >= f.recorded_from)
    if f.recorded_to is not None:
        query = query.where(Event.recorded_at <= f.recorded_to)
    return query.order_by(Event.id.desc() if f.newest_first else Event.id)


def search(session: Session, caller: Actor, f: EventFilter, *, after_id: int | None = None,
           limit: int = 100) -> tuple[list[Event], bool]:
    query = events_query(caller, f).limit(limit + 1)
    if after_id is not None:
        query = query.where(Event.id < after_id if f.newest_first else Event.id > after_id)
    rows = list(session.scalars(query))
    return rows[:limit], len(rows) > limit


def iter_documents(factory: sessionmaker[Session], caller: Actor, f: EventFilter) -> Iterator[dict[str, Any]]:
    """Every matching event as its exported document, streamed in batches from its own session.

    Plain rows (no ORM identity map), so nothing accumulates however many rows stream past.
    """
    columns = events_query(caller, f).with_only_columns(*Event.__table__.c)
    with factory() as session:
        result = session.execute(columns.execution_options(yield_per=EXPORT_BATCH))
        for partition in result.partitions():
            for row in partition:
                # a row has the event's attributes
                yield {**event_document(row), "hash_recipe": recipe_of(row)}  # type: ignore[arg-type]


def _cell(value: Any, recipe: str) -> Any:
    """Values exactly as hashed (evidence as the canonical JSON of the recipe that sealed the row's hash), so
    an export can be re-verified."""
    if isinstance(value, dict | list):
        return jcs_json(value) if recipe == JCS else canonical_json(value)
    return value


def csv_chunks(documents: Iterator[dict[str, Any]], rows_per_chunk: int = 500) -> Iterator[bytes]:
    """UTF-8 with a BOM (so that Excel reads the Chinese headers), one chunk per ``rows_per_chunk`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([label for _, label in COLUMNS])
    for count, document in enumerate(documents, start=1):
        writer.writerow([csv_safe(_cell(document[name], document["hash_recipe"])) for name, _ in COLUMNS])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(documents: Iterator[dict[str, Any]], target: IO[bytes]) -> None:
    """openpyxl's write-only workbook streams rows to a temporary XML file, so memory stays flat."""
    # Imported by name: keeps openpyxl (untyped) out of the strict type check and off the import path.
    openpyxl = importlib.import_module("openpyxl")

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("审计事件")
    sheet.append([label for _, label in COLUMNS])

    for document in documents:
        sheet.append([xlsx_text_cell(sheet, _cell(document[name], document["hash_recipe"])) for name, _ in COLUMNS])
    workbook.save(target)


def xlsx_chunks(documents: Iterator[dict[str, Any]], chunk_size: int = 1 << 16) -> Iterator[bytes]:
    with tempfile.TemporaryFile() as spool:
        write_xlsx(documents, spool)
        spool.seek(0)
        while chunk := spool.read(chunk_size):
            yield chunk
