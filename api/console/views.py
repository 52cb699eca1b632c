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

from api.console import catalogue
from pipeline.access import Actor
from pipeline.dates import business_today
from pipeline.dynamic import worklist
from pipeline.history import verify
from pipeline.identifiers import region_full_name
from pipeline.lifecycle import guards, machine
from pipeline.lifecycle.decide import PlainFirm, decide, normalized_facts
from pipeline.lifecycle.guards import PlainTitle
from pipeline.models import Enterprise, Event, Recognition
from pipeline.rulebooks import TITLE_TIERS, Rulebook, rulebook_in_force, title_label

DUE_WINDOW_DAYS = 180
"""How far ahead the pipeline page looks for titles whose validity ends (复核 is due before then)."""

LADDER: tuple[str, ...] = ("reserve", *TITLE_TIERS)
OUTSIDE: tuple[str, ...] = ("revoked", "removed")


def trigger_label(book: Rulebook, trigger: str | None) -> str:
    return catalogue.trigger_label(book, trigger)


SKIPPED_EVIDENCE = ("voided_hash", "voided_trigger", "rulebook_id", "kind_label")
"""Evidence the chain keeps for machines; the page says it another way (the struck-through event, the rule)."""


def _warning_sentences(book: Rulebook, warning: dict[str, Any]) -> str:
    """``eligibility_warning`` as the sentence an official reads."""
    tier = book.label(str(warning.get("tier", "")))
    head = f"认定{tier}时的资格提示："
    if warning.get("error"):
        return head + f"指标数据无法评价（{catalogue.zh(str(warning['error']))}）。"
    if warning.get("year") is None:
        return head + "认定时没有该企业的年度数据，未能核对认定条件。"
    parts = [head + f"依据{warning['year']}年度数据，"]
    unmet = [catalogue.field_label(str(code)) for code in warning.get("unmet") or []]
    missing = [catalogue.field_label(str(code)) for code in warning.get("missing") or []]
    if unmet:
        parts.append("未达到：" + "、".join(unmet) + "。")
    if missing:
        parts.append("缺少数据：" + "、".join(missing) + "。")
    if not unmet and not missing:
        parts.append("数据不足以确认符合认定条件。")
    return "".join(parts)


def evidence_items(book: Rulebook, evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's evidence as labelled fields: amendments as "字段：旧值 → 新值", warnings as sentences."""
    items = []
    for key, value in evidence.items():
        if key in SKIPPED_EVIDENCE or value in (None, "", [], {}):
            continue
        if key == "eligibility_warning" and isinstance(value, dict):
            items.append(("资格提示", _warning_sentences(book, value)))
        elif key == "changes" and isinstance(value, dict):
            items.extend((catalogue.field_label(str(name)), catalogue.value_text(book, change))
                         for name, change in value.items() if isinstance(change, dict) and "from" in change)
        elif key == "voids_seq":
            items.append(("作废事件", f"#{value}"))
        elif key == "region_code" and isinstance(value, str):
            items.append(("区划", f"{region_full_name(value) or ''}（{value}）"))
        elif key == "data" and isinstance(value, dict):
            items.extend((catalogue.field_label(str(k)), catalogue.value_text(book, v)) for k, v in value.items())
        else:
            items.append((catalogue.field_label(key), catalogue.value_text(book, value)))
    return items


@dataclass(frozen=True)
class FunnelRow:
    state: str
    label: str
    count: int
    share: float
    """Width of the bar: count relative to the largest stage, 0–100."""
    valid: int | None = None
    """Firms holding a valid title of this tier today (``None`` for the pool and the states outside the ladder)."""


def funnel(session: Session, actor: Actor, book: Rulebook, today: dt.date) -> tuple[list[FunnelRow], list[FunnelRow]]:
    """Firms per state in the actor's jurisdiction: the ladder (pool → 小巨人) and those outside it; for each tier
    also how many firms hold a title of it that is valid today (a state whose title lapsed is not a valid title)."""
    query = select(Enterprise.state, func.count()).group_by(Enterprise.state)
    valid_query = (select(Recognition.tier, func.count(func.distinct(Recognition.enterprise_id)))
                   .join(Enterprise, Enterprise.id == Recognition.enterprise_id)
                   .where(Recognition.valid_on_clause(today))
                   .group_by(Recognition.tier))
    if actor.region_prefix:
        query = query.where(Enterprise.region_code.startswith(actor.region_prefix))
        valid_query = valid_query.where(Enterprise.region_code.startswith(actor.region_prefix))
    counts: dict[str, int] = {state: int(count) for state, count in session.execute(query)}
    valid: dict[str, int] = {tier: int(count) for tier, count in session.execute(valid_query)}
    largest = max([counts.get(s, 0) for s in LADDER + OUTSIDE] + [1])

    def rows(states: tuple[str, ...]) -> list[FunnelRow]:
        return [FunnelRow(s, book.label(s), counts.get(s, 0), 100 * counts.get(s, 0) / largest,
                          valid.get(s, 0) if s in TITLE_TIERS else None) for s in states]

    return rows(LADDER), rows(OUTSIDE)


def due_for_review(session: Session, actor: Actor, today: dt.date) -> list[worklist.DueGroup]:
    """The 复核 worklist of the next :data:`DUE_WINDOW_DAYS` days: the very list ``GET /dynamic-management/due``
    returns (:func:`pipeline.dynamic.worklist.due`), so the dashboard card, its full list and the API agree."""
    return worklist.due(session, actor, within_days=DUE_WINDOW_DAYS, today=today)


@dataclass(frozen=True)
class LapsedTitle:
    uscc: str
    name: str
    region_code: str
    tier: str
    valid_until: dt.date


def lapsed_titles(session: Session, actor: Actor, today: dt.date, limit: int = 200) -> list[LapsedTitle]:
    """Firms whose state's title is past its validity and not yet ended (the expiry sweep has not run): 已过期."""
    query = (
        select(Enterprise.uscc, Enterprise.name, Enterprise.region_code, Recognition.tier, Recognition.valid_until)
        .join(Recognition, Recognition.enterprise_id == Enterprise.id)
        .where(Recognition.ended_on.is_(None), Recognition.tier == Enterprise.state, Recognition.valid_until < today)
        .order_by(Recognition.valid_until, Enterprise.uscc).limit(limit)
    )
    if actor.region_prefix:
        query = query.where(Enterprise.region_code.startswith(actor.region_prefix))
    return [LapsedTitle(*row) for row in session.execute(query)]


def title_status(title: Recognition, today: dt.date) -> tuple[str, str]:
    """(css class, label) of a title today: 有效, 已过期 (validity over, not ended) or 已终止."""
    if title.ended_on is not None and title.ended_on <= today:
        return "ended", "已终止"
    if title.valid_until < today:
        return "lapsed", "已过期"
    if title.recognized_on > today:
        return "future", "未生效"
    return "valid", "有效"


def state_lapsed(firm: Enterprise, today: dt.date) -> bool:
    """The firm stands on a tier whose title is past its validity (not yet swept to 到期失效)."""
    if firm.state not in TITLE_TIERS:
        return False
    return not any(t.tier == firm.state and t.valid_on(today) for t in firm.recognitions)


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


DESTRUCTIVE = machine.DESTRUCTIVE
"""Triggers set apart on the firm page and confirmed with their outcome before they are recorded."""


@dataclass(frozen=True)
class Preview:
    """What a destructive trigger would do, computed by the lifecycle's decision function on a copy of the firm."""

    from_label: str
    to_state: str
    to_label: str
    ended: list[str]
    barred_until: dt.date | None


def dry_run(firm: Enterprise, trigger: str, actor: Actor, *, effective_date: dt.date, reason_code: str | None,
            reason: str | None, evidence: dict[str, Any]) -> Preview:
    """:func:`pipeline.lifecycle.decide.decide` on :class:`PlainFirm` (a copy): the resulting tier, titles ended
    and bar — exactly what recording would do, or the same refusal. Nothing is written."""
    copy = PlainFirm.copy_of(firm)
    book = rulebook_in_force(effective_date)
    before = copy.state
    _, recorded = decide(copy, trigger, effective_date, actor=actor, rulebook=book, today=business_today(),
                         reason_code=reason_code, reason=reason, facts=normalized_facts(evidence),
                         new_title=PlainTitle)
    ended = [book.label(str(t)) for t in recorded.get("ended_titles") or []]
    return Preview(book.label(before), copy.state, book.label(copy.state), ended, copy.barred_until)
