"""What the console's pages show, computed from the domain: funnel counts, titles due for re-review, the
validity timeline, the chain's verification (:mod:`pipeline.history.verify`), and which fields each
trigger's form asks for.

Read-only queries scoped by the actor's jurisdiction exactly as the API scopes them (``actor.region_prefix``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from pipeline.access import Actor
from pipeline.history import verify
from pipeline.lifecycle import chain as audit
from pipeline.lifecycle import guards, machine
from pipeline.models import Enterprise, Event, Recognition
from pipeline.rulebooks import TITLE_TIERS, Rulebook, title_label

DUE_WINDOW_DAYS = 180
"""How far ahead the pipeline page looks for titles whose validity ends (复核 is due before then)."""

LADDER: tuple[str, ...] = ("reserve", *TITLE_TIERS)
OUTSIDE: tuple[str, ...] = ("revoked", "removed")


def trigger_label(book: Rulebook, trigger: str | None) -> str:
    if trigger is None:
        return "信息变更"
    if trigger in machine.RECOGNITION_TIER:
        return f"认定为{book.label(machine.RECOGNITION_TIER[trigger])}"
    return {
        "enroll": "纳入培育库", "renew": "复核通过（续期）", "demote": "降级", "expire": "到期失效",
        "revoke": "撤销", "remove": "移出", "correct": "更正",
    }.get(trigger, trigger)


EVIDENCE_LABELS = {
    "document_no": "文号", "batch": "批次", "valid_until": "有效期至", "tier": "称号", "ended_titles": "终止的称号",
    "barred_until": "禁入至", "bar_served_until": "禁入期满", "name": "企业名称", "region_code": "区划代码",
    "changes": "变更内容", "voids_seq": "作废事件",
}


def evidence_items(book: Rulebook, evidence: dict[str, Any]) -> list[tuple[str, str]]:
    items = []
    for key, value in evidence.items():
        if key in ("tier",) and isinstance(value, str):
            shown = book.label(value)
        elif key == "ended_titles" and isinstance(value, list):
            shown = "、".join(book.label(str(v)) for v in value) or "无"
        elif isinstance(value, dict | list):
            shown = audit.canonical_json(value)
        else:
            shown = str(value)
        items.append((EVIDENCE_LABELS.get(key, key), shown))
    return items


@dataclass(frozen=True)
class FunnelRow:
    state: str
    label: str
    count: int
    share: float
    """Width of the bar: count relative to the largest stage, 0–100."""


def funnel(session: Session, actor: Actor, book: Rulebook) -> tuple[list[FunnelRow], list[FunnelRow]]:
    """Firms per state in the actor's jurisdiction: the ladder (pool → 小巨人) and those outside it."""
    query = select(Enterprise.state, func.count()).group_by(Enterprise.state)
    if actor.region_prefix:
        query = query.where(Enterprise.region_code.startswith(actor.region_prefix))
    counts: dict[str, int] = {state: int(count) for state, count in session.execute(query)}
    largest = max([counts.get(s, 0) for s in LADDER + OUTSIDE] + [1])

    def rows(states: tuple[str, ...]) -> list[FunnelRow]:
        return [FunnelRow(s, book.label(s), counts.get(s, 0), 100 * counts.get(s, 0) / largest) for s in states]

    return rows(LADDER), rows(OUTSIDE)


@dataclass(frozen=True)
class DueTitle:
    uscc: str
    name: str
    tier_label: str
    valid_until: dt.date
    days_left: int


def due_for_review(session: Session, actor: Actor, book: Rulebook, today: dt.date, limit: int = 50) -> list[DueTitle]:
    """Current titles (the tier the firm stands on) whose validity ends within the window, or already has."""
    horizon = today + dt.timedelta(days=DUE_WINDOW_DAYS)
    query = (
        select(Enterprise.uscc, Enterprise.name, Recognition.tier, Recognition.valid_until)
        .join(Recognition, Recognition.enterprise_id == Enterprise.id)
        .where(Recognition.ended_on.is_(None), Recognition.tier == Enterprise.state, Recognition.valid_until <= horizon)
        .order_by(Recognition.valid_until, Enterprise.uscc)
        .limit(limit)
    )
    if actor.region_prefix:
        query = query.where(Enterprise.region_code.startswith(actor.region_prefix))
    return [DueTitle(uscc, name, book.label(tier), until, (until - today).days)
            for uscc, name, tier, until in session.execute(query)]


@dataclass(frozen=True)
class TimelineBar:
    label: str
    document: str
    recognized_on: dt.date
    valid_until: dt.date
    ended_on: dt.date | None
    end_reason: str | None
    valid_today: bool
    x: float
    """Start, in percent of the timeline's width."""
    held: float
    """Width while held (up to the end or the validity end), percent."""
    lapsed: float
    """Width of the remainder of the window after an early end, percent (drawn faded)."""


@dataclass(frozen=True)
class Timeline:
    bars: list[TimelineBar]
    years: list[tuple[int, float]]
    today: float


def timeline(book: Rulebook, titles: list[Recognition], today: dt.date) -> Timeline | None:
    """Each title as a bar from recognition to validity end on a shared axis of whole years."""
    if not titles:
        return None
    start = dt.date(min(t.recognized_on for t in titles).year, 1, 1)
    end = dt.date(max([t.valid_until for t in titles] + [today]).year + 1, 1, 1)
    span = (end - start).days

    def pct(day: dt.date) -> float:
        return round(100 * (day - start).days / span, 3)

    bars = []
    for title in sorted(titles, key=lambda t: (t.recognized_on, TITLE_TIERS.index(t.tier))):
        stop = min(title.ended_on, title.valid_until) if title.ended_on else title.valid_until
        stop = max(stop, title.recognized_on)
        bars.append(TimelineBar(
            label=title_label(title.tier, title.recognized_on), document=title.document_no or title.batch or "",
            recognized_on=title.recognized_on, valid_until=title.valid_until, ended_on=title.ended_on,
            end_reason=title.end_reason, valid_today=title.valid_on(today), x=pct(title.recognized_on),
            held=max(pct(stop) - pct(title.recognized_on), 0.4), lapsed=max(pct(title.valid_until) - pct(stop), 0),
        ))
    years = [(year, pct(dt.date(year, 1, 1))) for year in range(start.year, end.year)]
    return Timeline(bars, years, pct(today))


@dataclass(frozen=True)
class EventCheck:
    seq: int
    ok: bool
    problem: str | None


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    count: int
    summary: str
    checks: dict[int, EventCheck]


def verify_chain(enterprise: Enterprise, events: list[Event]) -> ChainStatus:
    """:func:`pipeline.history.verify.check_chain` on one firm's events, each event marked with its first problem."""
    session = object_session(enterprise)
    jsonb = session is not None and session.get_bind().dialect.name == "postgresql"
    problems, _ = verify.check_chain(enterprise.uscc, events, enterprise.last_seq, jsonb=jsonb)
    first: dict[int, str] = {}
    for found in problems:
        first.setdefault(found.seq, found.problem)
    checks = {event.seq: EventCheck(event.seq, event.seq not in first, first.get(event.seq)) for event in events}
    if problems:
        return ChainStatus(False, len(events), f"校验失败 — 事件 #{problems[0].seq}：{problems[0].problem}", checks)
    return ChainStatus(True, len(events), f"哈希链完整：{len(events)}个事件逐一重算一致", checks)


@dataclass(frozen=True)
class FormSpec:
    """Exactly what a trigger must (or may) carry — the same rules the guards enforce."""

    trigger: str
    reason_codes: dict[str, str]
    reason: str
    """"required", "optional" or "none"."""
    decision: str
    """"one_of" (文号或批次), "document_no" (文号 required), or "none"."""
    valid_until: bool


def form_spec(book: Rulebook, trigger: str, state: str) -> FormSpec:
    codes = dict(book.reasons_for(trigger)) if trigger in guards.NEEDS_REASON_CODE else {}
    reentry = trigger == "enroll" and state in ("removed", "revoked")
    if trigger in guards.NEEDS_REASON_TEXT or reentry:
        reason = "required"
    elif trigger in ("remove", "expire", "enroll"):
        reason = "optional"
    else:
        reason = "none"
    if trigger in machine.RECOGNITION_TIER or trigger == "renew":
        decision = "one_of"
    elif trigger == "revoke":
        decision = "document_no"
    else:
        decision = "none"
    return FormSpec(trigger, codes, reason, decision, trigger in machine.RECOGNITION_TIER or trigger == "renew")
