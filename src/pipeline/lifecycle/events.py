"""The event factory: the one way a firm's next event is made.

:func:`next_event` takes a firm (ORM row or plain record) whose state the kernel has already moved and
returns its next event as a plain, sealed :class:`EventRecord` — next ``seq``, ``to_state``, evidence,
rulebook id and hash, ``recorded_at``, the chain links — and does the firm's bookkeeping (``last_seq``,
``last_effective_date``, ``version``, ``updated_at``). The service inserts the record, the bulk import puts
it in its COPY batch, the sweep and corrections write it the same way; nothing else builds an event.

事件工厂：企业的下一条事件只在此处生成并封存。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Protocol, cast

from pipeline.dates import utc_now
from pipeline.lifecycle import chain
from pipeline.models import Event
from pipeline.rulebooks import Rulebook

TRANSITION: Final = "transition"
AMENDMENT: Final = "amendment"
CORRECTION: Final = "correction"
SIDE_TITLE: Final = "side_title"

UNORDERED_KINDS: Final = frozenset({AMENDMENT, SIDE_TITLE})
"""Kinds that change no state or tier title: they must not stop a decision from last month being keyed in
today, so they do not move the firm's latest decision date. An amendment carries today's date (a rename, a
filing); a side title (单项冠军, 高新技术企业 …) its certificate's date, often keyed in long after."""


class FirmBook(Protocol):
    """What the factory reads and keeps on a firm."""

    uscc: str
    state: str
    last_seq: int
    last_effective_date: dt.date | None
    version: int
    updated_at: dt.datetime


@dataclass(slots=True)
class EventRecord:
    """An event row: the hashed fields of :data:`pipeline.lifecycle.chain.HASHED_FIELDS` and the chain links.
    ``enterprise_id`` is ``None`` for a firm whose row is not written yet (a bulk import fills it in)."""

    enterprise_id: int | None
    uscc: str
    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    effective_date: dt.date
    recorded_at: dt.datetime
    actor: str
    reason_code: str | None
    reason: str | None
    evidence: dict[str, Any]
    rulebook_id: str
    rulebook_hash: str
    request_id: str | None
    prev_hash: str = ""
    hash: str = ""
    hash_recipe: str | None = None

    def columns(self) -> dict[str, Any]:
        """The record as the ``events`` table's columns (shallow: ``dataclasses.asdict`` would deep-copy the
        evidence of every event written)."""
        return {name: getattr(self, name) for name in _EVENT_FIELDS}


def recording_instant() -> dt.datetime:
    """Now, by the clock every event is recorded by (:func:`next_event` reads it when not given ``now``; a bulk
    writer reads it once a chunk and hands it to each of the chunk's events)."""
    return utc_now()


def next_event(
    firm: FirmBook,
    *,
    kind: str,
    trigger: str | None,
    from_state: str | None,
    effective_date: dt.date,
    actor_id: str,
    rulebook: Rulebook,
    previous_hash: str,
    reason_code: str | None = None,
    reason: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    enterprise_id: int | None = None,
    now: dt.datetime | None = None,
    user: str | None = None,
) -> EventRecord:
    """Seal the firm's next event after ``previous_hash`` (the chain's head) and keep the firm's books.

    ``recorded_at`` is now, but never before the head event's (the firm's ``updated_at``, which every event
    sets to its own ``recorded_at``) plus 1 µs: an honest chain never goes backwards across hosts.
    ``user``: the person behind the principal ``actor_id`` (a console account), kept as ``evidence.user``."""
    now = chain.next_recorded_at(firm.updated_at if firm.last_seq else None, now or recording_instant())
    record = EventRecord(
        enterprise_id=enterprise_id,
        uscc=firm.uscc,
        seq=firm.last_seq + 1,
        kind=kind,
        trigger=trigger,
        from_state=from_state,
        to_state=firm.state,
        effective_date=effective_date,
        recorded_at=now,
        actor=actor_id,
        reason_code=reason_code,
        reason=reason,
        evidence={**(evidence or {}), "user": user} if user else dict(evidence or {}),
        rulebook_id=rulebook.id,
        rulebook_hash=rulebook.content_hash,
        request_id=request_id,
    )
    chain.seal(cast(Event, record), previous_hash)  # seal reads the hashed fields by name; a record has them
    firm.last_seq = record.seq
    if kind not in UNORDERED_KINDS:
        firm.last_effective_date = max(effective_date, firm.last_effective_date or effective_date)
    firm.version += 1
    firm.updated_at = now
    return record


_EVENT_FIELDS = tuple(item.name for item in fields(EventRecord))
