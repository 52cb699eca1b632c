"""Record chains beside the firms' chains (:class:`pipeline.models.ChainRecord`): append, read, check.

A feature names its chain (``"loans"``, ``"targets"`` …) and the key of one chain in it, and appends the
full view of its record after each change, so the chain alone says what was decided, by whom and when.
Appending reads the chain's head: the caller holds a lock on whatever the chain belongs to (a bank's
principal row, a target's region-year row), and the unique ``(chain, key, seq)`` refuses the rest.
``audit verify`` checks every chain (:func:`verify_chains`).
记录链：贷款、目标、名额、申报批次等各自成链，只增不改。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from pipeline.dates import utc_now
from pipeline.lifecycle.chain import GENESIS_HASH, chain_hash, format_timestamp
from pipeline.models import ChainRecord

HASHED_FIELDS: tuple[str, ...] = ("chain", "key", "seq", "action", "recorded_at", "actor", "reason", "details",
                                  "request_id")
BATCH = 2000


def record_fields(record: ChainRecord) -> dict[str, Any]:
    fields = {name: getattr(record, name) for name in HASHED_FIELDS}
    fields["recorded_at"] = format_timestamp(record.recorded_at)
    return fields


def head(session: Session, chain: str, key: str) -> ChainRecord | None:
    return session.scalars(select(ChainRecord).where(ChainRecord.chain == chain, ChainRecord.key == key)
                           .order_by(ChainRecord.seq.desc()).limit(1)).first()


def append(session: Session, chain: str, key: str, action: str, details: dict[str, Any], *, actor: str,
           reason: str | None = None, request_id: str | None = None,
           now: dt.datetime | None = None) -> ChainRecord:
    """Seal and add the chain's next record (the caller holds the lock the module docstring names)."""
    last = head(session, chain, key)
    now = now or utc_now()
    if last is not None and now <= last.recorded_at:
        now = last.recorded_at + dt.timedelta(microseconds=1)
    record = ChainRecord(chain=chain, key=key, seq=1 if last is None else last.seq + 1, action=action,
                         recorded_at=now, actor=actor, reason=reason, details=details, request_id=request_id,
                         prev_hash=GENESIS_HASH if last is None else last.hash)
    record.hash = chain_hash(record.prev_hash, record_fields(record))
    session.add(record)
    session.flush()
    return record


def records(session: Session, chain: str, key: str) -> list[ChainRecord]:
    return list(session.scalars(select(ChainRecord).where(ChainRecord.chain == chain, ChainRecord.key == key)
                                .order_by(ChainRecord.seq)))


def check(chain: Sequence[Any], fields: Callable[[Any], dict[str, Any]] = record_fields,
          noun: tuple[str, str] = ("记录", "record")) -> list[tuple[int, str]]:
    """Problems of one chain's records, in seq order: ``(seq, problem)`` — a gap or a repeat, a broken link, a
    changed record. ``fields`` gives a record's hashed fields; ``noun`` names it (Chinese, English)."""
    zh, en = noun
    problems: list[tuple[int, str]] = []
    prev, expected = GENESIS_HASH, 1
    for record in chain:
        if record.seq != expected:
            problems.append((expected, f"{zh}缺失或重复 — {en} missing or duplicated"))
            expected = record.seq
        if record.prev_hash != prev:
            problems.append((record.seq, f"prev_hash 与上一{zh}不符 — prev_hash does not link to the previous {en}"))
        if chain_hash(record.prev_hash, fields(record)) != record.hash:
            problems.append((record.seq, f"哈希不符，{zh}被改动 — hash mismatch: the {en} was changed"))
        prev, expected = record.hash, expected + 1
    return problems


def _chains(session: Session, chain: str | None) -> Iterator[list[ChainRecord]]:
    """Every chain's records in order, streamed in batches (one chain is never split)."""
    after: tuple[str, str, int] = ("", "", 0)
    current: list[ChainRecord] = []
    while True:
        query = select(ChainRecord)
        if current or after != ("", "", 0):
            query = query.where(tuple_(ChainRecord.chain, ChainRecord.key, ChainRecord.seq) > tuple_(*after))
        if chain is not None:
            query = query.where(ChainRecord.chain == chain)
        batch = list(session.scalars(query.order_by(ChainRecord.chain, ChainRecord.key, ChainRecord.seq)
                                     .limit(BATCH)))
        for record in batch:
            if current and (current[0].chain, current[0].key) != (record.chain, record.key):
                yield current
                current = []
            current.append(record)
        if len(batch) < BATCH:
            break
        last = batch[-1]
        after = (last.chain, last.key, last.seq)
    if current:
        yield current


def verify_chains(session: Session, chain: str | None = None) -> list[tuple[str, str, int, str]]:
    """``(chain, key, seq, problem)`` for every broken record chain (all chains, or one feature's)."""
    found: list[tuple[str, str, int, str]] = []
    for records_of_one in _chains(session, chain):
        first = records_of_one[0]
        found.extend((first.chain, first.key, seq, problem) for seq, problem in check(records_of_one))
    return found
