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

from sqlalchemy import ColumnElement, and_, func, or_, select, true, union
from sqlalchemy.orm import Session, aliased

from pipeline.dates import utc_now
from pipeline.firms.repository import in_pool_on
from pipeline.history.replay import CORRECTION_KIND, events_by_uscc, replay, voided_seqs
from pipeline.identifiers import region_prefix
from pipeline.lifecycle.events import AMENDMENT
from pipeline.models import Enterprise, Event, Recognition, SideTitle
from pipeline.rulebooks import TITLE_TIERS
from pipeline.titles.replay import replay_side_titles

ONE_DAY = dt.timedelta(days=1)
_REPLAYED_COLUMNS = frozenset({"uscc", "seq", "kind", "trigger", "from_state", "to_state", "effective_date",
                               "recorded_at", "reason_code", "evidence", "rulebook_id", "rulebook_hash"})
RENEWED = "renewed"
VOIDED = "voided"


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
    """The value of the last change dated on or before ``day`` (changes in chain order, dates never falling)."""
    at = bisect.bisect_right(changes, day, key=lambda change: change[0])
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
    """The firms of a region as the counts need them, read once per report.

    As recorded now, titles are counted in SQL from the ``recognitions`` and ``side_titles`` rows (a voided
    grant is ended on its own date, so it is never valid, and is left out of ``new`` by its end reason), the
    way ``/reports/counts`` counts; only firms an amendment moved into, out of or within the region are
    replayed, to count each where it was on the date. For a past ``known_at`` every firm is replayed from the
    events recorded by then.
    """

    def __init__(self, session: Session, region: str, *, known_at: dt.datetime | None = None) -> None:
        self.session, self.prefix = session, region_prefix(region)
        self.replay_all = known_at is not None and known_at < utc_now()
        prefix = self.prefix
        moved_from = Event.evidence["changes"]["region_code"]["from"].as_string()
        moved_to = Event.evidence["changes"]["region_code"]["to"].as_string()
        moved = {uscc: code for uscc, code in session.execute(
            select(Event.uscc, Enterprise.region_code).join(Enterprise, Enterprise.id == Event.enterprise_id)
            .where(Event.kind == AMENDMENT, or_(moved_from.startswith(prefix), moved_to.startswith(prefix))))}
        self.moved = set(moved)
        replayed = dict(moved)
        events: dict[str, list[Any]] = defaultdict(list)
        if self.replay_all:
            replayed |= {uscc: code for uscc, code in session.execute(
                select(Enterprise.uscc, Enterprise.region_code).where(Enterprise.region_code.startswith(prefix)))}
            columns = [column for column in Event.__table__.c if column.name in _REPLAYED_COLUMNS]
            in_region = (select(*columns).join(Enterprise, Enterprise.id == Event.enterprise_id)
                         .where(Enterprise.region_code.startswith(prefix)).order_by(Event.enterprise_id, Event.seq))
            for row in session.execute(in_region):
                events[row.uscc].append(row)
        missing = [uscc for uscc in replayed if uscc not in events]
        if missing:
            events.update(events_by_uscc(session, missing))
        self.firms = [facts_of(uscc, code, events.get(uscc, []), known_at) for uscc, code in replayed.items()]
        self._held: dict[tuple[frozenset[str], dt.date], Counter[str]] = {}
        self._new: dict[tuple[frozenset[str], dt.date, dt.date], Counter[frozenset[str]]] = {}

    def _not_replayed(self) -> ColumnElement[bool]:
        return and_(Enterprise.region_code.startswith(self.prefix), Enterprise.uscc.not_in(self.moved)
                    if self.moved else true())

    def total(self, tiers: Iterable[str], day: dt.date, region: str) -> int:
        """Firms in ``region`` on ``day`` holding a valid title of any of ``tiers`` that day."""
        key = (frozenset(tiers), day)
        if key not in self._held:  # one pass per (tiers, day) serves every region of a report
            held = Counter(firm.region_on(day) or "" for firm in self.firms
                           if firm.in_pool_on(day) and any(w.tier in key[0] and w.valid_on(day) for w in firm.windows))
            if not self.replay_all:
                held.update(self._held_in_sql(key[0], day))
            self._held[key] = held
        return sum(n for code, n in self._held[key].items() if code.startswith(region_prefix(region)))

    def _held_in_sql(self, tiers: frozenset[str], day: dt.date) -> dict[str, int]:
        holders = union(
            select(Recognition.enterprise_id).where(Recognition.tier.in_(tiers), Recognition.valid_on_clause(day)),
            select(SideTitle.enterprise_id).where(SideTitle.kind.in_(tiers), SideTitle.valid_on_clause(day)),
        ).subquery()
        rows = self.session.execute(
            select(Enterprise.region_code, func.count()).join(holders, holders.c.enterprise_id == Enterprise.id)
            .where(self._not_replayed(), in_pool_on(day)).group_by(Enterprise.region_code))
        return {str(code): int(n) for code, n in rows}

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
            if not self.replay_all:
                found.update({frozenset({code}): n for code, n in self._new_in_sql(key[0], first, last).items()})
            self._new[key] = found
        prefix = region_prefix(region)
        return sum(n for regions, n in self._new[key].items() if any(code.startswith(prefix) for code in regions))

    def _new_in_sql(self, tiers: frozenset[str], first: dt.date, last: dt.date) -> Counter[str]:
        earlier = aliased(Recognition)
        renewal = select(earlier.id).where(
            earlier.enterprise_id == Recognition.enterprise_id, earlier.tier == Recognition.tier,
            earlier.end_reason == RENEWED, earlier.ended_by_seq == Recognition.granted_by_seq).exists()
        firms: dict[int, str] = {int(firm_id): str(code) for firm_id, code in self.session.execute(
            select(Enterprise.id, Enterprise.region_code).join(Recognition, Recognition.enterprise_id == Enterprise.id)
            .where(self._not_replayed(), Recognition.tier.in_(tiers), Recognition.recognized_on.between(first, last),
                   or_(Recognition.end_reason.is_(None), Recognition.end_reason != VOIDED), ~renewal))}
        side_kinds = tiers - set(TITLE_TIERS)
        if side_kinds:  # few rows: a grant continuing a title held the day before is no new recognition
            by_firm: dict[int, list[Any]] = defaultdict(list)
            regions: dict[int, str] = {}
            for row in self.session.execute(
                    select(SideTitle, Enterprise.region_code).join(Enterprise, Enterprise.id == SideTitle.enterprise_id)
                    .where(self._not_replayed(), SideTitle.kind.in_(side_kinds), SideTitle.granted_on <= last)):
                by_firm[row[0].enterprise_id].append(row[0])
                regions[row[0].enterprise_id] = row[1]
            for firm_id, titles in by_firm.items():
                if any(first <= t.granted_on <= last and t.end_reason_code != VOIDED and not any(
                        other is not t and other.kind == t.kind and other.valid_on(t.granted_on - ONE_DAY)
                        for other in titles) for t in titles):
                    firms[firm_id] = regions[firm_id]
        return Counter(firms.values())
