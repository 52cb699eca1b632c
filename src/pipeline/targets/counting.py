"""What a target is measured against, counted from the firms' events (never from a stored counter).

One :class:`Population` is read per progress request: the firms of a region (and firms that moved out of it
by an amendment), each replayed from its events as recorded by ``known_at`` (:mod:`pipeline.history.replay`,
:mod:`pipeline.titles.replay`), so voided recognitions never count and time travel is the replay's own.

- ``total`` — firms holding a valid title of any of the tiers on the date (and in the pool that day).
- ``new`` — firms with a recognition of any of the tiers effective in the year that is not a renewal (a
  re-recognition after a lapse counts); a firm counts in the region it was in on the recognition date.
- ``growth`` — as ``total``; the target is a multiple of the ``total`` on the baseline date.

按事件计数：作废的认定不计；时间回溯沿用重放。
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.history.replay import CORRECTION_KIND, events_by_uscc, replay, voided_seqs
from pipeline.identifiers import region_prefix
from pipeline.lifecycle.events import AMENDMENT
from pipeline.models import Enterprise, Event
from pipeline.titles.replay import replay_side_titles

ONE_DAY = dt.timedelta(days=1)
_REPLAYED_COLUMNS = frozenset({"uscc", "seq", "kind", "trigger", "from_state", "to_state", "effective_date",
                               "recorded_at", "reason_code", "evidence", "rulebook_id", "rulebook_hash"})
RENEWED = "renewed"


@dataclass(frozen=True, slots=True)
class Window:
    """One validity window of a title or side title."""

    tier: str
    start: dt.date
    valid_until: dt.date
    ended_on: dt.date | None
    renewal: bool
    """A renewal (复核通过) continues the previous window: not a new recognition."""

    def valid_on(self, day: dt.date) -> bool:
        return self.start <= day <= self.valid_until and (self.ended_on is None or day < self.ended_on)


@dataclass
class FirmFacts:
    """One firm as the counts need it: where it was, whether it was in the pool, what it held."""

    uscc: str
    regions: list[tuple[dt.date, str]] = field(default_factory=list)
    states: list[tuple[dt.date, str]] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)

    def region_on(self, day: dt.date) -> str | None:
        return _on(self.regions, day, first_if_before=True)

    def in_pool_on(self, day: dt.date) -> bool:
        return _on(self.states, day, first_if_before=False) not in (None, "removed")


def _on(changes: list[tuple[dt.date, str]], day: dt.date, *, first_if_before: bool) -> str | None:
    at = bisect.bisect_right(changes, (day, "\uffff"))
    if at == 0:
        return changes[0][1] if changes and first_if_before else None
    return changes[at - 1][1]


def facts_of(uscc: str, current_region: str, events: Sequence[Any], known_at: dt.datetime | None) -> FirmFacts:
    """A firm's regions, states and title windows from its events recorded by ``known_at``, voided ones left out."""
    known = [e for e in events if known_at is None or e.recorded_at <= known_at]
    voided = voided_seqs(known)
    firm = FirmFacts(uscc)
    for event in known:
        if event.kind == CORRECTION_KIND or event.seq in voided:
            continue
        evidence = event.evidence or {}
        if event.trigger == "enroll" and event.from_state is None and evidence.get("region_code"):
            firm.regions.append((event.effective_date, str(evidence["region_code"])))
        elif event.kind == AMENDMENT and isinstance(evidence.get("changes", {}).get("region_code"), dict):
            firm.regions.append((event.effective_date, str(evidence["changes"]["region_code"]["to"])))
        if event.kind == "transition" and event.to_state:
            firm.states.append((event.effective_date, str(event.to_state)))
    if not firm.regions:
        firm.regions.append((dt.date.min, current_region))
    replayed = replay(events, known_at=known_at)
    renewed_by = {t.ended_by_seq for t in replayed.recognitions if t.end_reason == RENEWED}
    firm.windows = [Window(t.tier, t.recognized_on, t.valid_until, t.ended_on, t.granted_by_seq in renewed_by)
                    for t in replayed.recognitions]
    sides = replay_side_titles(events, known_at=known_at)
    for side in sides:
        continues = any(other is not side and other.kind == side.kind and other.valid_on(side.granted_on - ONE_DAY)
                        for other in sides)
        firm.windows.append(Window(side.kind, side.granted_on, side.valid_until, side.ended_on, continues))
    return firm


class Population:
    """The firms of a region (and those that were in it before an amendment moved them), read once."""

    def __init__(self, session: Session, region: str, *, known_at: dt.datetime | None = None) -> None:
        prefix = region_prefix(region)
        current = {uscc: code for uscc, code in session.execute(
            select(Enterprise.uscc, Enterprise.region_code).where(Enterprise.region_code.startswith(prefix)))}
        moved_from = Event.evidence["changes"]["region_code"]["from"].as_string()
        moved_in = {uscc: code for uscc, code in session.execute(
            select(Event.uscc, Enterprise.region_code).join(Enterprise, Enterprise.id == Event.enterprise_id)
            .where(Event.kind == AMENDMENT, moved_from.startswith(prefix),
                   ~Enterprise.region_code.startswith(prefix)))}
        events: dict[str, list[Any]] = defaultdict(list)
        columns = [column for column in Event.__table__.c if column.name in _REPLAYED_COLUMNS]
        in_region = (select(*columns).join(Enterprise, Enterprise.id == Event.enterprise_id)
                     .where(Enterprise.region_code.startswith(prefix)).order_by(Event.enterprise_id, Event.seq))
        for row in session.execute(in_region):
            events[row.uscc].append(row)
        if moved_in:
            events.update(events_by_uscc(session, list(moved_in)))
        self.firms = [facts_of(uscc, code, events.get(uscc, []), known_at)
                      for uscc, code in (current | moved_in).items()]
        self._held: dict[tuple[frozenset[str], dt.date], Counter[str]] = {}
        self._new: dict[tuple[frozenset[str], dt.date, dt.date], Counter[frozenset[str]]] = {}

    def total(self, tiers: Iterable[str], day: dt.date, region: str) -> int:
        """Firms in ``region`` on ``day`` holding a valid title of any of ``tiers`` that day."""
        key = (frozenset(tiers), day)
        if key not in self._held:  # one pass per (tiers, day) serves every region of a report
            self._held[key] = Counter(
                firm.region_on(day) or "" for firm in self.firms
                if firm.in_pool_on(day) and any(w.tier in key[0] and w.valid_on(day) for w in firm.windows))
        prefix = region_prefix(region)
        return sum(n for code, n in self._held[key].items() if code.startswith(prefix))

    def new(self, tiers: Iterable[str], first: dt.date, last: dt.date, region: str) -> int:
        """Firms with a recognition (not a renewal) of any of ``tiers`` effective from ``first`` to ``last``,
        counted in the region they were in on its date (once, however many such recognitions)."""
        key = (frozenset(tiers), first, last)
        if key not in self._new:
            found: Counter[frozenset[str]] = Counter()
            for firm in self.firms:
                regions = frozenset(firm.region_on(w.start) or "" for w in firm.windows
                                    if w.tier in key[0] and not w.renewal and first <= w.start <= last)
                if regions:
                    found[regions] += 1
            self._new[key] = found
        prefix = region_prefix(region)
        return sum(n for regions, n in self._new[key].items() if any(code.startswith(prefix) for code in regions))
