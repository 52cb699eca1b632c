"""Proof that history is intact: chain verification with replay, and anchors of the chain heads.

:func:`verify` walks the firms in id order in batches (memory stays flat), recomputes each firm's chain in
seq order with the recipe of :mod:`pipeline.lifecycle.chain`, and compares the stored state, bar and title rows with
a replay of the events. Every problem names the firm and the exact seq it concerns.

An anchor is one sha256 over the lines ``uscc,seq,hash\\n`` of every firm's head, sorted by uscc, stored
with the heads themselves. Verifying it recomputes each chain from genesis up to the anchored seq: if any
event recorded before the anchor changed, was removed or was slipped in, the recomputed head — and so the
digest — differs.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, insert, literal, select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.errors import NotFound, PipelineError
from pipeline.history.corrections import VOIDED
from pipeline.history.replay import events_by_uscc, replay, voided_seqs
from pipeline.lifecycle import chain as audit
from pipeline.models import Enterprise, Event, Recognition
from pipeline.models.audit import Anchor, AnchorHead
from pipeline.titles.replay import side_title_mismatches, side_titles_by_firm

BATCH = 500


@dataclass(frozen=True)
class Problem:
    uscc: str
    seq: int
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "seq": self.seq, "problem": self.problem}


@dataclass
class Report:
    firms_checked: int = 0
    events_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "firms_checked": self.firms_checked, "events_checked": self.events_checked,
                "problems": [p.as_dict() for p in self.problems]}



def check_chain(uscc: str, events: Sequence[Any], expected_last_seq: int) -> list[Problem]:
    """Seq continuity, links and hashes of one firm's chain, linked on the stored hashes so that one
    edited event is reported at its own seq and not at every later one."""
    problems: list[Problem] = []
    prev_hash, prev_to_state, expected_seq = audit.GENESIS_HASH, None, 1
    for event in events:
        if event.seq > expected_seq:
            problems.extend(Problem(uscc, missing, "事件缺失 — event missing from the chain (deleted?)")
                            for missing in range(expected_seq, event.seq))
        elif event.seq < expected_seq:
            problems.append(Problem(uscc, event.seq, "序号重复 — duplicate seq"))
        if event.prev_hash != prev_hash and event.seq == expected_seq:
            problems.append(Problem(uscc, event.seq, "prev_hash 与上一事件的哈希不符 — prev_hash does not link "
                                                     "to the previous event's hash"))
        recomputed = audit.chain_hash(event.prev_hash, audit.event_fields(event))
        if recomputed != event.hash:
            problems.append(Problem(uscc, event.seq, "哈希不符，内容被改动 — hash mismatch: the event's fields "
                                                     "were changed after it was recorded"))
        if event.seq > 1 and event.seq == expected_seq and event.from_state != prev_to_state:
            problems.append(Problem(uscc, event.seq, f"from_state {event.from_state!r} does not follow the "
                                                     f"previous event's to_state {prev_to_state!r}"))
        prev_hash, prev_to_state, expected_seq = event.hash, event.to_state, max(expected_seq, event.seq + 1)
    if expected_last_seq >= expected_seq:
        problems.extend(Problem(uscc, missing, "事件缺失 — event missing from the end of the chain (deleted?)")
                        for missing in range(expected_seq, expected_last_seq + 1))
    elif expected_last_seq < expected_seq - 1:
        problems.append(Problem(uscc, expected_seq - 1, f"企业记录的最后序号为{expected_last_seq} — the firm "
                                                        f"records last_seq {expected_last_seq}"))
    return problems


def _title_key(title: Any) -> tuple[Any, ...]:
    return (title.tier, title.recognized_on, title.valid_until, title.ended_on, title.end_reason,
            title.granted_by_seq, title.ended_by_seq, title.document_no, title.batch)


def check_replay(firm: Any, titles: Sequence[Any], events: Sequence[Any]) -> list[Problem]:
    """The stored firm against a replay of its events."""
    try:
        replayed = replay(events)
    except (PipelineError, KeyError, ValueError, TypeError, AssertionError) as exc:
        return [Problem(firm.uscc, firm.last_seq, f"重放失败 — replay failed: {exc}")]
    problems = []
    if replayed.state != firm.state:
        problems.append(Problem(firm.uscc, firm.last_seq, f"状态与事件不符 — stored state {firm.state!r}, the "
                                                          f"events give {replayed.state!r}"))
    if replayed.barred_until != firm.barred_until:
        problems.append(Problem(firm.uscc, firm.last_seq, f"禁入期与事件不符 — stored barred_until "
                                                          f"{firm.barred_until}, the events give "
                                                          f"{replayed.barred_until}"))
    voided = voided_seqs(events)
    stored = sorted((_title_key(t) for t in titles if t.end_reason != VOIDED), key=repr)
    expected = sorted((_title_key(t) for t in replayed.recognitions), key=repr)
    if stored != expected:
        differing = sorted({k[5] for k in set(stored) ^ set(expected)}) or [firm.last_seq]
        problems.extend(Problem(firm.uscc, seq, "称号记录与事件不符 — the title rows granted by this event differ "
                                                "from a replay of the events") for seq in differing)
    problems.extend(Problem(firm.uscc, t.granted_by_seq, "称号标记为作废但该事件未被更正 — title marked voided "
                                                         "but its event was not voided")
                    for t in titles if t.end_reason == VOIDED and t.granted_by_seq not in voided)
    return problems


def check_side_titles(firm: Any, side_titles: Sequence[Any], events: Sequence[Any]) -> list[Problem]:
    """The stored side titles against a replay of what the side-title events recorded."""
    return [Problem(firm.uscc, seq, "并列称号记录与事件不符 — the side title granted by this event differs from "
                                    "a replay of the events") for seq in side_title_mismatches(side_titles, events)]


def _firm_batches(session: Session, uscc: str | None, region_prefix: str | None) -> Iterator[list[Any]]:
    after = 0
    while True:
        query = (select(Enterprise.id, Enterprise.uscc, Enterprise.state, Enterprise.barred_until,
                        Enterprise.last_seq).where(Enterprise.id > after).order_by(Enterprise.id).limit(BATCH))
        if uscc is not None:
            query = query.where(Enterprise.uscc == uscc)
        if region_prefix:
            query = query.where(Enterprise.region_code.startswith(region_prefix))
        batch = list(session.execute(query))
        if not batch:
            return
        yield batch
        after = batch[-1].id


def verify(session: Session, *, uscc: str | None = None, region_prefix: str | None = None) -> Report:
    """Every firm (or one, or those under a region prefix), in batches of :data:`BATCH` firms."""
    report = Report()
    if uscc is not None:
        region = session.scalar(select(Enterprise.region_code).where(Enterprise.uscc == uscc))
        if region is None or (region_prefix and not region.startswith(region_prefix)):
            raise NotFound(f"未找到企业{uscc} — no enterprise {uscc} in your jurisdiction")
    for batch in _firm_batches(session, uscc, region_prefix):
        events = events_by_uscc(session, [f.uscc for f in batch])
        titles: dict[int, list[Any]] = defaultdict(list)
        for title in session.execute(select(Recognition.__table__)
                                     .where(Recognition.enterprise_id.in_([f.id for f in batch]))):
            titles[title.enterprise_id].append(title)
        side_titles = side_titles_by_firm(session, [f.id for f in batch])
        for firm in batch:
            chain = events.get(firm.uscc, [])
            report.firms_checked += 1
            report.events_checked += len(chain)
            report.problems.extend(check_chain(firm.uscc, chain, firm.last_seq))
            report.problems.extend(check_replay(firm, titles[firm.id], chain))
            report.problems.extend(check_side_titles(firm, side_titles.get(firm.id, []), chain))
    return report


def _digest(lines: Iterator[tuple[str, int, str]]) -> str:
    digest = hashlib.sha256()
    for uscc, seq, head in lines:
        digest.update(f"{uscc},{seq},{head}\n".encode())
    return digest.hexdigest()


def _heads(session: Session, anchor_id: int) -> Iterator[list[Any]]:
    after = ""
    while True:
        batch = list(session.execute(select(AnchorHead.uscc, AnchorHead.seq, AnchorHead.hash)
                                     .where(AnchorHead.anchor_id == anchor_id, AnchorHead.uscc > after)
                                     .order_by(AnchorHead.uscc).limit(BATCH * 4)))
        if not batch:
            return
        yield batch
        after = batch[-1].uscc


def create_anchor(session: Session, actor: Actor, note: str | None = None) -> Anchor:
    """Record every firm's chain head now (one statement, so one consistent snapshot) and their digest."""
    anchor = Anchor(digest="", firms=0, events=0, created_at=utc_now(), actor=actor.id, note=note)
    session.add(anchor)
    session.flush()
    heads = (select(literal(anchor.id, AnchorHead.anchor_id.type), Event.uscc, Event.seq, Event.hash)
             .join(Enterprise, and_(Enterprise.uscc == Event.uscc, Enterprise.last_seq == Event.seq)))
    session.execute(insert(AnchorHead).from_select(["anchor_id", "uscc", "seq", "hash"], heads))
    anchor.firms, anchor.events = 0, 0

    def lines() -> Iterator[tuple[str, int, str]]:
        for batch in _heads(session, anchor.id):
            for row in batch:
                anchor.firms += 1
                anchor.events += row.seq
                yield row.uscc, row.seq, row.hash

    anchor.digest = _digest(lines())
    session.flush()
    return anchor


@dataclass
class AnchorReport:
    anchor: Anchor
    recomputed_digest: str
    firms_checked: int
    events_checked: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems and self.recomputed_digest == self.anchor.digest


def verify_anchor(session: Session, anchor_id: int) -> AnchorReport:
    anchor = session.get(Anchor, anchor_id)
    if anchor is None:
        raise NotFound(f"未找到锚点{anchor_id} — no anchor {anchor_id}")
    problems: list[Problem] = []
    counts = {"firms": 0, "events": 0}

    def lines() -> Iterator[tuple[str, int, str]]:
        for batch in _heads(session, anchor_id):
            wanted = {row.uscc: row for row in batch}
            chains = events_by_uscc(session, list(wanted))
            for uscc, head in wanted.items():
                chain = [event for event in chains.get(uscc, []) if event.seq <= head.seq]
                counts["firms"] += 1
                counts["events"] += len(chain)
                recomputed, expected_seq = audit.GENESIS_HASH, 1
                for event in chain:
                    if event.seq != expected_seq:
                        problems.append(Problem(uscc, expected_seq, "锚定前的事件缺失 — an event anchored "
                                                                    "earlier is missing"))
                        expected_seq = event.seq
                    recomputed_next = audit.chain_hash(recomputed, audit.event_fields(event))
                    if recomputed_next != event.hash or event.prev_hash != recomputed:
                        problems.append(Problem(uscc, event.seq, "锚定后被改动 — this event changed since the "
                                                                 "anchor"))
                    recomputed, expected_seq = recomputed_next, expected_seq + 1
                if expected_seq <= head.seq:
                    problems.append(Problem(uscc, expected_seq, "锚定前的事件缺失 — an event anchored earlier "
                                                                "is missing"))
                yield uscc, head.seq, recomputed

    recomputed_digest = _digest(lines())
    return AnchorReport(anchor, recomputed_digest, counts["firms"], counts["events"], problems)


def anchors(session: Session, limit: int = 100) -> list[Anchor]:
    return list(session.scalars(select(Anchor).order_by(Anchor.id.desc()).limit(limit)))
