"""Side titles rebuilt from a firm's events alone — from what each event recorded, never from rule data.

A ``grant_side_title`` event records the whole title (kind, validity end, issuer level, document number,
product); an ``end_side_title`` event names the title by the seq of the event that granted it. Voided
events and corrections are skipped, as in :func:`pipeline.history.replay.replay`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.lifecycle.events import SIDE_TITLE
from pipeline.models import SideTitle

GRANT: Final = "grant_side_title"
END: Final = "end_side_title"
CORRECTION_KIND: Final = "correction"
VOIDED: Final = "voided"


class SideTitleEvent(Protocol):
    seq: int
    kind: str
    trigger: str | None
    effective_date: dt.date
    recorded_at: dt.datetime
    reason_code: str | None
    evidence: dict[str, Any]


@dataclass(slots=True)
class PlainSideTitle:
    """A side title outside the ORM: the columns of :class:`pipeline.models.SideTitle`."""

    kind: str
    granted_on: dt.date
    valid_until: dt.date
    issuer_level: str
    document_no: str
    product: str | None = None
    ended_on: dt.date | None = None
    end_reason_code: str | None = None
    granted_by_seq: int = 0
    ended_by_seq: int | None = None

    def valid_on(self, day: dt.date) -> bool:
        return self.granted_on <= day <= self.valid_until and (self.ended_on is None or day < self.ended_on)


def grant_evidence(title: PlainSideTitle, kind_label: str) -> dict[str, Any]:
    """What a grant event records: everything replay needs to rebuild the title."""
    recorded: dict[str, Any] = {
        "kind": title.kind, "kind_label": kind_label, "valid_until": title.valid_until.isoformat(),
        "issuer_level": title.issuer_level, "document_no": title.document_no,
    }
    if title.product is not None:
        recorded["product"] = title.product
    return recorded


def replay_side_titles(events: Sequence[SideTitleEvent], *, known_at: dt.datetime | None = None,
                       ) -> list[PlainSideTitle]:
    """The firm's side titles after its events (recorded by ``known_at``), voided ones left out."""
    known = [e for e in events if known_at is None or e.recorded_at <= known_at]
    voided = {int(e.evidence["voids_seq"]) for e in known
              if e.kind == CORRECTION_KIND and isinstance(e.evidence.get("voids_seq"), int)}
    titles: dict[int, PlainSideTitle] = {}
    for event in known:
        if event.kind != SIDE_TITLE or event.seq in voided:
            continue
        recorded = event.evidence
        if event.trigger == GRANT:
            titles[event.seq] = PlainSideTitle(
                kind=recorded["kind"], granted_on=event.effective_date,
                valid_until=dt.date.fromisoformat(recorded["valid_until"]), issuer_level=recorded["issuer_level"],
                document_no=recorded["document_no"], product=recorded.get("product"), granted_by_seq=event.seq)
        elif event.trigger == END:
            title = titles[int(recorded["granted_by_seq"])]
            title.ended_on, title.end_reason_code, title.ended_by_seq = (
                event.effective_date, event.reason_code, event.seq)
    return list(titles.values())


def _key(title: Any) -> tuple[Any, ...]:
    return (title.kind, title.granted_on, title.valid_until, title.issuer_level, title.document_no, title.product,
            title.ended_on, title.end_reason_code, title.granted_by_seq, title.ended_by_seq)


def side_title_mismatches(stored: Sequence[Any], events: Sequence[SideTitleEvent]) -> list[int]:
    """Seqs of the grants whose stored side title differs from the replay (voided grants are not compared:
    their rows stay, marked ``voided``, and replay leaves them out)."""
    kept = {_key(t) for t in stored if t.end_reason_code != VOIDED}
    try:
        replayed = {_key(t) for t in replay_side_titles(events)}
    except (KeyError, ValueError, TypeError):
        return [max((e.seq for e in events), default=0)]
    return sorted({key[8] for key in kept ^ replayed})


def side_titles_by_firm(session: Session, firm_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The stored side titles of several firms as plain rows."""
    found: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(select(SideTitle.__table__).where(SideTitle.enterprise_id.in_(firm_ids))):
        found[row.enterprise_id].append(row)
    return found
