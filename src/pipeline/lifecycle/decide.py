"""The decision kernel: what a trigger does to a firm on a date — on plain data.

:func:`decide` checks a trigger (permission, the machine's table, every guard), fires it, and updates the
firm's titles and bar; it returns the state the firm left and the evidence its event records. It is the
only place a landing state, a title's validity end, an expiry date or an ended title is computed: the
service (ORM rows), the bulk import (plain records), the expiry sweep and its dry run (copies), and
replay (history) all call it. Writing the event is :mod:`pipeline.lifecycle.events`.

决策内核：一个触发事件在某日对企业状态、称号与禁入期的全部影响，只在此处计算。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from pipeline.access import Actor, require_permission
from pipeline.dates import add_years, parse_date, validity_end
from pipeline.errors import GuardFailed
from pipeline.lifecycle import guards, machine
from pipeline.lifecycle.guards import PlainTitle, TitleLike
from pipeline.lifecycle.machine import DEMOTING, ENDING, RECOGNITION_TIER
from pipeline.rulebooks import TITLE_TIERS, Rulebook

ONE_DAY = dt.timedelta(days=1)
EXPIRY_REASON_CODE: Final = "expired"
"""The reason code of an ``expire`` fired because a title's validity ended (the sweep, backfills)."""


class TitleRow(TitleLike, Protocol):
    """A title as the bookkeeping needs it: an ORM :class:`~pipeline.models.Recognition` or a plain copy."""

    document_no: str | None
    batch: str | None
    end_reason: str | None
    granted_by_seq: int
    ended_by_seq: int | None


class TitleHolder(Protocol):
    """A firm as the title bookkeeping needs it: an ORM :class:`~pipeline.models.Enterprise` or a copy."""

    state: str
    barred_until: dt.date | None

    @property
    def recognitions(self) -> list[Any]: ...


class FirmLike(TitleHolder, Protocol):
    """A loaded firm as :func:`decide` needs it: ORM row, import record or dry-run copy."""

    last_effective_date: dt.date | None
    last_seq: int


class StoredFirm(FirmLike, Protocol):
    """A firm with its bookkeeping columns (what :mod:`pipeline.lifecycle.events` keeps)."""

    uscc: str
    version: int
    updated_at: dt.datetime


@dataclass(slots=True)
class PlainFirm:
    """A copy of a firm to decide on without touching it (dry runs, the console's confirmation)."""

    uscc: str
    state: str
    barred_until: dt.date | None
    last_effective_date: dt.date | None
    last_seq: int
    version: int
    updated_at: dt.datetime
    recognitions: list[PlainTitle] = field(default_factory=list)

    @classmethod
    def copy_of(cls, firm: StoredFirm) -> PlainFirm:
        titles = [PlainTitle(t.tier, t.recognized_on, t.valid_until, document_no=t.document_no, batch=t.batch,
                             ended_on=t.ended_on, end_reason=t.end_reason, granted_by_seq=t.granted_by_seq,
                             ended_by_seq=t.ended_by_seq) for t in firm.recognitions]
        return cls(firm.uscc, firm.state, firm.barred_until, firm.last_effective_date, firm.last_seq, firm.version,
                   firm.updated_at, titles)


def raise_refusals(refusals: Sequence[guards.Refusal], trigger: str) -> None:
    """Raise :class:`GuardFailed` naming every refusal, if there is any."""
    if refusals:
        first = refusals[0]
        raise GuardFailed(
            first.message if len(refusals) == 1 else "; ".join(r.message for r in refusals),
            guard=first.guard,
            trigger=trigger,
            refusals=[r.as_dict() for r in refusals],
        )


def normalized_facts(evidence: Mapping[str, Any] | None) -> dict[str, Any]:
    """The evidence a caller sent, as the kernel reads it: blanks dropped, text stripped, ``valid_until`` a date."""
    result: dict[str, Any] = {}
    for key, value in (evidence or {}).items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        result[key] = value.strip() if isinstance(value, str) else value
    if "valid_until" in result:
        raw = result["valid_until"]
        result["valid_until"] = raw if isinstance(raw, dt.date) else parse_date(
            str(raw), field="evidence.valid_until")
    return result


def check_enroll(rulebook: Rulebook, actor: Actor, day: dt.date, today: dt.date, reason: str | None) -> None:
    """The guards of a new firm's ``enroll`` (it has no row yet to :func:`decide` on); the caller has
    checked the permission and the region."""
    raise_refusals(guards.check(guards.Proposal(
        trigger="enroll", state=machine.NEW, titles=[], barred_until=None, last_effective_date=None,
        effective_date=day, today=today, rulebook=rulebook, reason=reason,
    )), "enroll")


def decide(
    holder: FirmLike,
    trigger: str,
    effective_date: dt.date,
    *,
    actor: Actor,
    rulebook: Rulebook,
    today: dt.date,
    reason_code: str | None,
    reason: str | None,
    facts: Mapping[str, Any],
    new_title: Callable[..., TitleRow],
) -> tuple[str, dict[str, Any]]:
    """Check and fire ``trigger`` on a loaded, locked firm — permission, the table, every guard — then move
    its state, titles and bar. Returns the state it left and the evidence its event records."""
    for permission in machine.required_permissions(trigger, holder.state):
        require_permission(rulebook, actor, permission)
    machine.require_allowed(rulebook, trigger, holder.state)
    raise_refusals(guards.check(guards.Proposal(
        trigger=trigger, state=holder.state, titles=list(holder.recognitions), barred_until=holder.barred_until,
        last_effective_date=holder.last_effective_date, effective_date=effective_date, today=today,
        rulebook=rulebook, reason_code=reason_code, reason=reason, evidence=facts,
    )), trigger)
    from_state = holder.state
    if trigger == "enroll":
        landing: str | None = guards.restored_state(holder.recognitions, effective_date)
    elif trigger in DEMOTING:
        landing = guards.landing_state(from_state, holder.recognitions, effective_date)
    else:
        landing = None
    machine.fire(rulebook, trigger, holder, landing=landing)
    recorded = apply_titles(holder, trigger, from_state, effective_date, reason_code, facts, rulebook,
                            holder.last_seq + 1, new_title)
    evidence = {**facts, **recorded}
    if isinstance(evidence.get("valid_until"), dt.date):
        evidence["valid_until"] = evidence["valid_until"].isoformat()
    return from_state, evidence


def _end(title: TitleRow, day: dt.date, reason: str, seq: int) -> None:
    title.ended_on = day
    title.end_reason = reason
    title.ended_by_seq = seq


def apply_titles(
    holder: TitleHolder,
    trigger: str,
    from_state: str,
    day: dt.date,
    reason_code: str | None,
    facts: Mapping[str, Any],
    rulebook: Rulebook,
    seq: int,
    new_title: Callable[..., TitleRow],
) -> dict[str, Any]:
    """Update a firm's titles and bar for a fired trigger (``holder.state`` already moved); return what the
    event records of it. ``new_title(**columns)`` builds a title row of the caller's kind, so the live firm,
    an import's records and a replay share one bookkeeping."""
    titles: list[TitleRow] = holder.recognitions
    open_titles = [t for t in titles if t.ended_on is None]
    if trigger in RECOGNITION_TIER:
        tier = RECOGNITION_TIER[trigger]
        valid_until = facts.get("valid_until") or validity_end(day, rulebook.validity_years[tier])
        titles.append(new_title(
            tier=tier, document_no=facts.get("document_no"), batch=facts.get("batch"), recognized_on=day,
            valid_until=valid_until, granted_by_seq=seq,
        ))
        return {"tier": tier, "valid_until": valid_until.isoformat()}
    if trigger == "renew":
        old = guards.current_title(titles, from_state)
        assert old is not None  # the renewal guard refused otherwise
        start = max(old.valid_until + ONE_DAY, day)
        valid_until = facts.get("valid_until") or validity_end(start, rulebook.validity_years[from_state])
        _end(old, day, "renewed", seq)
        titles.append(new_title(
            tier=from_state, document_no=facts.get("document_no"), batch=facts.get("batch"),
            recognized_on=day, valid_until=valid_until, granted_by_seq=seq,
        ))
        return {"tier": from_state, "valid_until": valid_until.isoformat()}
    if trigger in DEMOTING:
        recorded: dict[str, Any] = {}
        if trigger == "expire":
            top = guards.current_title(titles, from_state)
            if top is not None:
                recorded["lapsed"] = {"tier": from_state, "valid_until": top.valid_until.isoformat()}
        keep = TITLE_TIERS.index(holder.state) if holder.state in TITLE_TIERS else -1
        ended = []
        for title in open_titles:
            lapsed = title.valid_until < day
            if TITLE_TIERS.index(title.tier) > keep or lapsed:
                _end(title, day, "expired" if trigger == "expire" or lapsed else (reason_code or "demoted"), seq)
                ended.append(title.tier)
        return {"ended_titles": ended, **recorded}
    if trigger == "remove" and not rulebook.remove_ends_titles_for(reason_code):
        return {"ended_titles": [], "titles_kept": [t.tier for t in open_titles]}
    if trigger in ENDING:
        for title in open_titles:
            _end(title, day, f"{trigger}d:{reason_code}", seq)
        if trigger == "revoke":
            holder.barred_until = add_years(day, rulebook.bar_years)
            return {"ended_titles": [t.tier for t in open_titles], "barred_until": holder.barred_until.isoformat()}
        return {"ended_titles": [t.tier for t in open_titles]}
    if trigger == "enroll" and holder.barred_until is not None:
        served = holder.barred_until
        holder.barred_until = None
        return {"bar_served_until": served.isoformat()}
    return {}


# --- expiry: when a state-carrying title has lapsed --------------------------------------------------------


def lapsed_top(state: str, titles: Sequence[TitleLike], as_of: dt.date) -> TitleLike | None:
    """The title that carries ``state``, if it is open and its validity ended before ``as_of``."""
    if state not in TITLE_TIERS:
        return None
    top = guards.current_title(titles, state)
    return top if top is not None and top.valid_until < as_of else None


def expiry_date(top: TitleLike, last_effective_date: dt.date | None) -> dt.date:
    """The effective date of the ``expire`` that ends ``top``: the first day it was no longer valid, moved
    forward to the firm's latest event date when that is later (events never precede a firm's latest)."""
    day = top.valid_until + ONE_DAY
    return max(day, last_effective_date) if last_effective_date else day


def due_expiries(holder: FirmLike, as_of: dt.date) -> Iterable[tuple[dt.date, TitleLike]]:
    """Each ``expire`` a firm needs by ``as_of``, in order: ``(effective date, lapsed title)``. The caller
    fires it (through :func:`decide`) before asking for the next. Stops at the first one dated after
    ``as_of`` (the firm's latest event is later than the sweep date)."""
    while (top := lapsed_top(holder.state, holder.recognitions, as_of)) is not None:
        day = expiry_date(top, holder.last_effective_date)
        if day > as_of:
            return
        yield day, top
