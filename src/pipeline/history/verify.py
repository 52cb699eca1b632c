"""Proof that history is intact: chain verification with replay, and anchors of the chain heads.

:func:`verify` walks the firms in id order in batches (memory stays flat), recomputes each firm's chain in
seq order, each event with the recipe that sealed it (:mod:`pipeline.lifecycle.chain`), checks that seq runs
from 1 without gaps and ``recorded_at`` never decreases, and compares the stored state, bar and title rows
with a replay of the events. Every problem names the firm and the exact seq it concerns; what is not
evidence of tampering (numbers PostgreSQL rewrote in old events, old decreases of ``recorded_at``) is a
warning, and ``ok`` stays true.

An anchor is one sha256 over the lines ``uscc,seq,hash\\n`` of every firm's head, sorted by uscc, stored
with the heads themselves. Verifying it recomputes each chain from genesis up to the anchored seq: if any
event recorded before the anchor changed, was removed or was slipped in, the recomputed head — and so the
digest — differs.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, insert, literal, select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.awards.ledger import verify_firms as verify_award_chains
from pipeline.dates import utc_now
from pipeline.errors import NotFound, PipelineError
from pipeline.history import anchor_signing, ledger
from pipeline.history.corrections import VOIDED
from pipeline.history.replay import events_by_uscc, replay, voided_seqs
from pipeline.json_numbers import MAX_SAFE_INTEGER
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


NUMBER_FORM_REWRITTEN = "number-form-rewritten"
RECORDED_AT_DECREASED = "recorded-at-decreased"


@dataclass(frozen=True)
class ChainWarning:
    """Something an auditor should know that is not evidence of tampering (``ok`` stays true)."""

    uscc: str
    seq: int
    warning: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "seq": self.seq, "warning": self.warning, "detail": self.detail}


@dataclass
class Report:
    firms_checked: int = 0
    events_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[ChainWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "firms_checked": self.firms_checked, "events_checked": self.events_checked,
                "problems": [p.as_dict() for p in self.problems], "warnings": [w.as_dict() for w in self.warnings]}


def _jsonb_originals(value: Any, *, negative_zero: bool) -> Any:
    """``value`` with the numbers JSONB rewrites put back in the form ``json.dumps`` once wrote: an integer
    beyond ±(2^53−1) as the float it was (``1e16`` came back as ``10000000000000000``), and, with
    ``negative_zero``, a zero float as ``-0.0`` (which came back as ``0.0``)."""
    if isinstance(value, dict):
        return {key: _jsonb_originals(item, negative_zero=negative_zero) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonb_originals(item, negative_zero=negative_zero) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return float(value)
    if negative_zero and isinstance(value, float) and value == 0.0:
        return -0.0
    return value


def seal_matches(event: Any, prev_hash: str, *, jsonb: bool) -> tuple[bool, bool]:
    """(does ``hash`` match the event's fields under the recipe that sealed it, did it take re-rendering
    numbers that PostgreSQL's JSONB rewrote). The second is only tried for ``pyjson-1`` events on
    PostgreSQL: ``jcs-1`` numbers are canonical before they are stored, and SQLite stores JSON as text."""
    recipe = audit.recipe_of(event)
    fields = audit.event_fields(event)
    if audit.chain_hash(prev_hash, fields, recipe) == event.hash:
        return True, False
    if jsonb and recipe == audit.PYJSON:
        for negative_zero in (False, True):
            original = {**fields, "evidence": _jsonb_originals(fields["evidence"], negative_zero=negative_zero)}
            if audit.chain_hash(prev_hash, original, recipe) == event.hash:
                return True, True
    return False, False


def check_chain(uscc: str, events: Sequence[Any], expected_last_seq: int, *, jsonb: bool = False,
                cutover_id: int | None = None) -> tuple[list[Problem], list[ChainWarning]]:
    """Seq continuity, links, hashes and recorded times of one firm's chain, linked on the stored hashes so
    that one edited event is reported at its own seq and not at every later one.

    ``recorded_at`` never decreases along a chain (writers make sure of it under the firm's lock); a decrease
    into an event sealed with the old recipe was recorded before they did, and is a warning. ``cutover_id``,
    the id of the first ``jcs-1`` event in the database: an old-recipe event stored after it was slipped in.
    """
    problems: list[Problem] = []
    warnings: list[ChainWarning] = []
    prev_hash, prev_to_state, expected_seq = audit.GENESIS_HASH, None, 1
    prev_recorded_at = None
    for event in events:
        if event.seq > expected_seq:
            problems.extend(Problem(uscc, missing, "事件缺失 — event missing from the chain (deleted?)")
                            for missing in range(expected_seq, event.seq))
        elif event.seq < expected_seq:
            problems.append(Problem(uscc, event.seq, "序号重复 — duplicate seq"))
        if event.prev_hash != prev_hash and event.seq == expected_seq:
            problems.append(Problem(uscc, event.seq, "prev_hash 与上一事件的哈希不符 — prev_hash does not link "
                                                     "to the previous event's hash"))
        matches, rewritten = seal_matches(event, event.prev_hash, jsonb=jsonb)
        if not matches:
            problems.append(Problem(uscc, event.seq, "哈希不符，内容被改动 — hash mismatch: the event's fields "
                                                     "were changed after it was recorded"))
        elif rewritten:
            warnings.append(ChainWarning(uscc, event.seq, NUMBER_FORM_REWRITTEN,
                                         "数值形式被数据库改写 — PostgreSQL (JSONB) rewrote numbers of this event's "
                                         "evidence (e.g. 1e+16 → 10000000000000000, -0.0 → 0.0); the hash matches "
                                         "with them written as Python floats, as they were sealed (pyjson-1)"))
        old_recipe = audit.recipe_of(event) == audit.PYJSON
        if old_recipe and cutover_id is not None and event.id > cutover_id:
            problems.append(Problem(uscc, event.seq, "旧哈希规则的事件写于升级之后 — an event sealed with the old "
                                                     "recipe pyjson-1 was stored after jcs-1 was introduced "
                                                     "(inserted behind the application's back?)"))
        if prev_recorded_at is not None and event.recorded_at < prev_recorded_at:
            detail = (f"记录时间早于上一事件 — recorded_at {audit.format_timestamp(event.recorded_at)} is earlier "
                      f"than the previous event's {audit.format_timestamp(prev_recorded_at)}")
            if old_recipe:
                warnings.append(ChainWarning(uscc, event.seq, RECORDED_AT_DECREASED,
                                             f"{detail}; recorded before writers kept recorded_at increasing"))
            else:
                problems.append(Problem(uscc, event.seq, f"{detail} (back-dated?)"))
        if event.seq > 1 and event.seq == expected_seq and event.from_state != prev_to_state:
            problems.append(Problem(uscc, event.seq, f"from_state {event.from_state!r} does not follow the "
                                                     f"previous event's to_state {prev_to_state!r}"))
        prev_hash, prev_to_state, expected_seq = event.hash, event.to_state, max(expected_seq, event.seq + 1)
        prev_recorded_at = event.recorded_at
    if expected_last_seq >= expected_seq:
        problems.extend(Problem(uscc, missing, "事件缺失 — event missing from the end of the chain (deleted?)")
                        for missing in range(expected_seq, expected_last_seq + 1))
    elif expected_last_seq < expected_seq - 1:
        problems.append(Problem(uscc, expected_seq - 1, f"企业记录的最后序号为{expected_last_seq} — the firm "
                                                        f"records last_seq {expected_last_seq}"))
    return problems, warnings


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


def verify(session: Session, *, uscc: str | None = None, region_prefix: str | None = None,
           on_progress: Callable[[int, int], None] | None = None) -> Report:
    """Every firm (or one, or those under a region prefix), in batches of :data:`BATCH` firms;
    ``on_progress(firms done, firms in all)`` after each batch."""
    report = Report()
    total = 0
    if on_progress is not None:
        counted = select(func.count()).select_from(Enterprise)
        if uscc is not None:
            counted = counted.where(Enterprise.uscc == uscc)
        elif region_prefix:
            counted = counted.where(Enterprise.region_code.startswith(region_prefix))
        total = int(session.scalar(counted) or 0)
    if uscc is not None:
        region = session.scalar(select(Enterprise.region_code).where(Enterprise.uscc == uscc))
        if region is None or (region_prefix and not region.startswith(region_prefix)):
            raise NotFound(f"未找到企业{uscc} — no enterprise {uscc} in your jurisdiction")
    jsonb = session.get_bind().dialect.name == "postgresql"
    cutover_id = session.scalar(select(func.min(Event.id)).where(Event.hash_recipe == audit.JCS))
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
            problems, warnings = check_chain(firm.uscc, chain, firm.last_seq, jsonb=jsonb, cutover_id=cutover_id)
            report.problems.extend(problems)
            report.warnings.extend(warnings)
            report.problems.extend(check_replay(firm, titles[firm.id], chain))
            report.problems.extend(check_side_titles(firm, side_titles.get(firm.id, []), chain))
        report.problems.extend(Problem(*found) for found in verify_award_chains(session, [f.uscc for f in batch]))
        if on_progress is not None:
            on_progress(report.firms_checked, total)
    if uscc is None and not region_prefix:
        # Record chains beside the firms' (loans, targets, rounds …) belong to no one firm: checked when
        # the whole database is.
        report.problems.extend(Problem(f"{chain}/{key}", seq, problem)
                               for chain, key, seq, problem in ledger.verify_chains(session))
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


def create_anchor(session: Session, actor: Actor, note: str | None = None,
                  key: anchor_signing.SigningKey | None = None) -> Anchor:
    """Record every firm's chain head now (one statement, so one consistent snapshot) and their digest,
    signed with ``key`` (default: the key file named by ``PIPELINE_ANCHOR_KEY``).

    Without a key nothing is written: :class:`~pipeline.errors.AnchorKeyMissing`.
    """
    key = key or anchor_signing.load_signing_key()
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
    anchor.signature = anchor_signing.sign(key, signed_fields(anchor))
    anchor.public_key_id = key.key_id
    session.flush()
    return anchor


def signed_fields(anchor: Anchor) -> dict[str, Any]:
    """What the anchor's signature covers (:mod:`pipeline.history.anchor_signing`)."""
    return anchor_signing.signed_fields(anchor.id, anchor.digest, anchor.firms, anchor.events, anchor.created_at)


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
    jsonb = session.get_bind().dialect.name == "postgresql"

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
                    matches = seal_matches(event, recomputed, jsonb=jsonb)[0]
                    recomputed_next = event.hash if matches else audit.chain_hash(
                        recomputed, audit.event_fields(event), audit.recipe_of(event))
                    if not matches or event.prev_hash != recomputed:
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
