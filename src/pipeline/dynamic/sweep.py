"""The expiry sweep (有效期届满处理): every title past its validity end without renewal ends by ``expire``.

A firm's state is its highest valid title. When the title that carries the state has lapsed, the sweep
fires ``expire`` as the ``system`` actor: the firm lands on its highest title still valid on the event's
date, or on ``reserve``, and every lapsed lower title ends with it (``service._apply_titles``). If the
landing title has lapsed by the sweep date too, a second ``expire`` follows, dated after its own end.

**The effective date of an expire event** is the day after the lapsed title's ``valid_until`` — the first
day it was no longer valid — moved forward to the firm's latest event date when that is later (events are
never dated before a firm's latest event). A title is valid through its ``valid_until``: a sweep
``--as-of D`` expires titles with ``valid_until < D``, so a title ending on D is still valid on D. An
event is never dated after ``as_of``; a firm whose latest event is later than ``as_of`` is left for a
later sweep and reported as skipped.

**Safe to repeat, safe to race.** Firms are worked in batches, one transaction per batch (``scopes``
yields the session of each). Each batch locks its firms (``SELECT … FOR UPDATE`` in id order) and
re-checks every firm under the lock, so a second run for the same date, or a concurrent sweep that
lost the race for a firm, finds nothing left to do there.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from pipeline.access import SYSTEM, Actor, require_permission
from pipeline.dates import business_today
from pipeline.errors import InvalidInput
from pipeline.firms import service
from pipeline.lifecycle import guards
from pipeline.models import Enterprise, Event, Recognition
from pipeline.rulebooks import TITLE_TIERS, rulebook_in_force

ONE_DAY = dt.timedelta(days=1)
REASON_CODE = "expired"
REASON = "有效期届满未复核，称号自动失效 — the title's validity ended without renewal"
DEFAULT_BATCH_SIZE = 1000

Scopes = Callable[[], AbstractContextManager[Session]]
"""Opens the session (and transaction) of one batch: ``unit_of_work`` per batch, or one shared session."""


@dataclass(frozen=True)
class SweepItem:
    """One ``expire`` event the sweep fires (or would fire, in a dry run)."""

    uscc: str
    region_code: str
    tier: str
    """The lapsed title that carried the firm's state."""
    valid_until: dt.date
    effective_date: dt.date
    from_state: str
    to_state: str
    ended_titles: tuple[str, ...]
    seq: int | None = None
    """The event's seq once applied; ``None`` in a dry run."""


@dataclass
class SweepReport:
    as_of: dt.date
    applied: bool
    candidates: int = 0
    firms_expired: int = 0
    events: int = 0
    by_tier: Counter[str] = field(default_factory=Counter)
    """Expire events per lapsed tier (the title that carried the state)."""
    ended_titles: Counter[str] = field(default_factory=Counter)
    """Title rows ended, per tier (lower lapsed titles included)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(uscc, why) of firms with a lapsed title the sweep could not date on or before ``as_of``."""


# --- planning: the pure part, shared by the dry run --------------------------------------------------


def _expiry_date(top: guards.TitleLike, last_effective_date: dt.date | None) -> dt.date:
    day = top.valid_until + ONE_DAY
    return max(day, last_effective_date) if last_effective_date else day


def _lapsed_top(state: str, titles: Sequence[guards.TitleLike], as_of: dt.date) -> guards.TitleLike | None:
    if state not in TITLE_TIERS:
        return None
    top = guards.current_title(titles, state)
    return top if top is not None and top.valid_until < as_of else None


def plan_firm(
    uscc: str, region_code: str, state: str, titles: Iterable[guards.TitleLike],
    last_effective_date: dt.date | None, as_of: dt.date,
) -> tuple[list[SweepItem], str | None]:
    """The expire events a firm needs as of ``as_of``, without touching it; and why it is skipped, if so."""
    scratch = [guards.PlainTitle(t.tier, t.recognized_on, t.valid_until, ended_on=t.ended_on) for t in titles]
    items: list[SweepItem] = []
    while (top := _lapsed_top(state, scratch, as_of)) is not None:
        day = _expiry_date(top, last_effective_date)
        if day > as_of:
            return items, f"latest event {last_effective_date} is after {as_of}"
        landing = guards.landing_state(state, scratch, day)
        keep = TITLE_TIERS.index(landing) if landing in TITLE_TIERS else -1
        ended = []
        for title in scratch:  # what service._apply_titles does for expire
            if title.ended_on is None and (TITLE_TIERS.index(title.tier) > keep or title.valid_until < day):
                title.ended_on = day
                ended.append(title.tier)
        items.append(SweepItem(uscc, region_code, state, top.valid_until, day, state, landing, tuple(ended)))
        state, last_effective_date = landing, day
    return items, None


# --- applying: under the row lock ---------------------------------------------------------------------


def expire_locked(
    session: Session, firm: Enterprise, as_of: dt.date, *, previous_hash: str | None,
    evidence: dict[str, Any], today: dt.date, actor: Actor = SYSTEM,
) -> tuple[list[SweepItem], str | None]:
    """Expire a firm's lapsed titles; the caller holds its row lock. Nothing to do → ``([], None)``.

    The same guards, machine and title bookkeeping as ``service.transition``; only the reads are batched
    (the caller loaded the firm, its titles and the chain's last hash for many firms at once).
    """
    items: list[SweepItem] = []
    while (top := _lapsed_top(firm.state, firm.recognitions, as_of)) is not None:
        day = _expiry_date(top, firm.last_effective_date)
        if day > as_of:
            return items, f"latest event {firm.last_effective_date} is after {as_of}"
        rulebook = rulebook_in_force(day)
        valid_until = top.valid_until
        from_state, recorded = service.decide(
            firm, "expire", day, actor=actor, rulebook=rulebook, today=today, reason_code=REASON_CODE,
            reason=REASON, facts={}, new_title=Recognition,
        )
        event = service.append_event(
            session, firm, kind="transition", trigger="expire", from_state=from_state, effective_date=day,
            actor=actor, rulebook=rulebook, reason_code=REASON_CODE, reason=REASON,
            evidence={**recorded, "lapsed": {"tier": from_state, "valid_until": valid_until.isoformat()},
                      **evidence},
            previous_hash=previous_hash, flush=False,
        )
        previous_hash = event.hash
        items.append(SweepItem(firm.uscc, firm.region_code, from_state, valid_until, day, from_state, firm.state,
                               tuple(recorded["ended_titles"]), event.seq))
    return items, None


def candidate_ids(session: Session, as_of: dt.date, region_prefix: str | None = None) -> list[int]:
    """Firms whose state-carrying title has an open row with ``valid_until < as_of`` (re-checked later)."""
    query = (
        select(Recognition.enterprise_id)
        .join(Enterprise, Enterprise.id == Recognition.enterprise_id)
        .where(Recognition.ended_on.is_(None), Recognition.valid_until < as_of, Recognition.tier == Enterprise.state)
        .distinct()
        .order_by(Recognition.enterprise_id)
    )
    if region_prefix:
        query = query.where(Enterprise.region_code.startswith(region_prefix))
    return list(session.scalars(query))


def _load(session: Session, ids: Sequence[int], *, lock: bool) -> list[Enterprise]:
    query = select(Enterprise).where(Enterprise.id.in_(ids)).order_by(Enterprise.id)
    if lock:  # id order: concurrent sweeps take the same locks in the same order, so never deadlock
        query = query.with_for_update()
    return list(session.scalars(query.execution_options(populate_existing=True)))


def _last_hashes(session: Session, ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(Event.enterprise_id, Event.hash)
        .join(Enterprise, and_(Enterprise.id == Event.enterprise_id, Enterprise.last_seq == Event.seq))
        .where(Enterprise.id.in_(ids))
    )
    return {enterprise_id: digest for enterprise_id, digest in rows}


def _number_new_events(session: Session) -> None:
    """Give the batch's new events their ids from the sequence in one round trip (PostgreSQL).

    With the primary keys known the ORM writes the rows as one executemany instead of a multi-row
    ``INSERT … RETURNING`` whose thousands of placeholders the driver must parse: 3x faster on big sweeps.
    """
    pending = [obj for obj in session.new if isinstance(obj, Event) and obj.id is None]
    if not pending or session.get_bind().dialect.name != "postgresql":
        return
    with session.no_autoflush:  # the events must still be pending when they get their ids
        ids = session.scalars(
            select(func.nextval(func.pg_get_serial_sequence("events", "id"))).select_from(
                func.generate_series(1, len(pending)))).all()
    for event, new_id in zip(sorted(pending, key=lambda e: (e.uscc, e.seq)), ids, strict=True):
        event.id = new_id


def sweep(
    scopes: Scopes,
    as_of: dt.date,
    *,
    apply: bool,
    requested_by: Actor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_item: Callable[[SweepItem], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SweepReport:
    """Find (and with ``apply`` expire) every lapsed title as of ``as_of`` in ``requested_by``'s jurisdiction.

    Events are recorded by :data:`pipeline.access.SYSTEM`; ``requested_by`` (who started the sweep) is
    kept in their evidence and must hold the ``expire`` permission to apply. Each item is passed to
    ``on_item`` as it is decided, so a long sweep streams its output instead of holding it.
    """
    today = business_today()
    if as_of > today:
        raise InvalidInput(f"清理日期{as_of}晚于今天{today} — as_of {as_of} is in the future (today is {today})",
                           field="as_of")
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1", field="batch_size")
    if apply:
        require_permission(rulebook_in_force(as_of), requested_by, "expire")
    report = SweepReport(as_of=as_of, applied=apply)
    with scopes() as session:
        ids = candidate_ids(session, as_of, requested_by.region_prefix)
    report.candidates = len(ids)
    evidence = {"sweep": {"as_of": as_of.isoformat(), "requested_by": requested_by.id}}
    done = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        decided: list[SweepItem] = []
        with scopes() as session:
            firms = _load(session, chunk, lock=apply)
            hashes = _last_hashes(session, chunk) if apply else {}
            for firm in firms:
                if apply:
                    items, skipped = expire_locked(session, firm, as_of, previous_hash=hashes.get(firm.id),
                                                   evidence=evidence, today=today)
                else:
                    items, skipped = plan_firm(firm.uscc, firm.region_code, firm.state, firm.recognitions,
                                               firm.last_effective_date, as_of)
                if skipped:
                    report.skipped.append((firm.uscc, skipped))
                report.firms_expired += bool(items)
                decided.extend(items)
            if apply:
                _number_new_events(session)
                session.flush()
        # reported once the batch's transaction has committed, so nothing printed is later rolled back
        for item in decided:
            report.events += 1
            report.by_tier[item.tier] += 1
            report.ended_titles.update(item.ended_titles)
            if on_item:
                on_item(item)
        done += len(chunk)
        if on_progress:
            on_progress(done, len(ids))
    return report
