"""Replay: a firm's state, titles and bar rebuilt from its events alone.

"What was true on ``as_of`` according to what had been recorded by ``known_at``" is one function:
take the events recorded by ``known_at``, drop those voided by a correction recorded by then (and the
corrections themselves), and apply the rest whose effective date is on or before ``as_of``, in seq order,
with the service's own title bookkeeping (:func:`pipeline.lifecycle.decide.apply_titles`). The stored firm must
equal the replay of all its events; ``pipeline audit verify`` checks exactly that.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.lifecycle.decide import apply_titles
from pipeline.lifecycle.guards import PlainTitle
from pipeline.models import Event
from pipeline.rulebooks import get_rulebook

CORRECTION_KIND = "correction"
CORRECTION_TRIGGER = "correct"


class EventLike(Protocol):
    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    effective_date: dt.date
    recorded_at: dt.datetime
    reason_code: str | None
    evidence: dict[str, Any]
    rulebook_id: str
    rulebook_hash: str


ReplayedTitle = PlainTitle
"""A title as a replay of the events rebuilds it."""


@dataclass
class ReplayedFirm:
    state: str | None = None
    """``None`` while the firm is not yet enrolled (on ``as_of`` or as known at ``known_at``)."""
    barred_until: dt.date | None = None
    recognitions: list[ReplayedTitle] = field(default_factory=list)
    last_seq: int = 0
    """The last event seen (applied, voided or a correction) — what the firm's chain ended on."""

    def titles_on(self, day: dt.date) -> list[ReplayedTitle]:
        return [t for t in self.recognitions if t.valid_on(day)]


def events_by_uscc(session: Session, usccs: Sequence[str]) -> dict[str, list[Any]]:
    """The events of several firms as plain rows (no ORM identity map), each firm's in seq order."""
    by_uscc: dict[str, list[Any]] = defaultdict(list)
    for row in session.execute(select(Event.__table__).where(Event.uscc.in_(usccs))
                               .order_by(Event.uscc, Event.seq)):
        by_uscc[row.uscc].append(row)
    return by_uscc


def voided_seqs(events: Iterable[EventLike]) -> dict[int, int]:
    """voided seq → seq of the correction that voided it."""
    return {int(e.evidence["voids_seq"]): e.seq for e in events
            if e.kind == CORRECTION_KIND and isinstance(e.evidence.get("voids_seq"), int)}


def _facts(evidence: dict[str, Any]) -> dict[str, Any]:
    facts = dict(evidence)
    if isinstance(facts.get("valid_until"), str):
        facts["valid_until"] = dt.date.fromisoformat(facts["valid_until"])
    return facts


def apply_event(firm: ReplayedFirm, event: EventLike) -> None:
    """Apply one (not voided) event to a replayed firm."""
    firm.last_seq = event.seq
    if event.kind != "transition" or event.trigger is None:
        return  # amendments change firm data, not state, titles or bar
    from_state = firm.state or "new"
    firm.state = event.to_state
    apply_titles(
        firm,  # type: ignore[arg-type]  # state is set just above
        event.trigger, from_state, event.effective_date, event.reason_code, _facts(event.evidence),
        get_rulebook(event.rulebook_id, event.rulebook_hash), event.seq, ReplayedTitle,  # the text it was judged by
    )


def replay(events: Sequence[EventLike], *, as_of: dt.date | None = None,
           known_at: dt.datetime | None = None) -> ReplayedFirm:
    """The firm on ``as_of`` (default: after every event) as recorded by ``known_at`` (default: now).

    ``events`` are one firm's, in seq order.
    """
    known = [e for e in events if known_at is None or e.recorded_at <= known_at]
    voided = voided_seqs(known)
    firm = ReplayedFirm()
    for event in known:
        if as_of is not None and event.effective_date > as_of:
            continue
        if event.kind == CORRECTION_KIND or event.seq in voided:
            firm.last_seq = event.seq
            continue
        apply_event(firm, event)
    return firm
