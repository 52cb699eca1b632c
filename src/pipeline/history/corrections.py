"""Corrections, never edits: voiding a firm's latest event by appending a ``correction`` event.

The correction event has ``kind = "correction"`` and ``trigger = "correct"`` (the rulebook permission of
the same name); ``evidence.voids_seq`` names the voided event. The voided event stays in the chain; the
firm returns to what a replay without it gives (state, bar), its title rows are reconciled without
deleting any: a title the voided event granted is ended on its own recognition date with end_reason
``voided`` (so it was never valid), a title it ended is reopened. Only the latest event can be voided, and
only within the rulebook's ``correction_window_days`` of its recorded time; older mistakes are fixed by
ordinary compensating transitions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.awards import service as awards
from pipeline.dates import utc_now
from pipeline.errors import GuardFailed, InvalidInput, NotFound
from pipeline.firms import repository, service
from pipeline.history.replay import CORRECTION_KIND, CORRECTION_TRIGGER, replay
from pipeline.lifecycle.events import SIDE_TITLE, UNORDERED_KINDS
from pipeline.rulebooks import get_rulebook
from pipeline.titles import service as side_titles

VOIDED = "voided"


def _refuse(guard: str, message: str) -> GuardFailed:
    return GuardFailed(message, guard=guard, trigger=CORRECTION_TRIGGER,
                       refusals=[{"guard": guard, "message": message}])


def void(
    session: Session,
    uscc: str,
    seq: int,
    *,
    actor: Actor,
    reason: str,
    request_id: str | None = None,
) -> service.Outcome:
    """Void event ``seq`` of a firm (it must be the latest) with a correction event."""
    enterprise = repository.get_enterprise(session, uscc, actor, for_update=True)
    events = repository.history(session, enterprise)
    target = next((e for e in events if e.seq == seq), None)
    if target is None:
        raise NotFound(f"企业{enterprise.uscc}没有序号为{seq}的事件 — firm {enterprise.uscc} has no event {seq}")
    rulebook = get_rulebook(target.rulebook_id)
    require_permission(rulebook, actor, "correct")
    # Undoing a decision needs the right to have made it: a district cannot void a city's recognition.
    require_permission(rulebook, actor, target.trigger or ("amend" if target.kind == "amendment" else "correct"))
    if not (reason or "").strip():
        raise InvalidInput("作废须说明理由 — voiding needs a reason", field="reason")
    if seq != enterprise.last_seq:
        raise _refuse("only_latest_event",
                      f"只能作废最近一次事件（序号{enterprise.last_seq}） — only the firm's latest event "
                      f"(seq {enterprise.last_seq}) can be voided; fix older mistakes with a compensating "
                      f"transition")
    if target.kind == CORRECTION_KIND:
        raise _refuse("correction_not_voidable",
                      "更正事件不能再作废 — a correction cannot be voided; record the decision again instead")
    if target.trigger == "enroll" and target.from_state is None:
        raise _refuse("first_enroll_not_voidable",
                      "首次纳入不能作废，请使用 remove — the first enrolment cannot be voided; remove the firm "
                      "(reason_code other) instead")
    window = dt.timedelta(days=rulebook.correction_window_days)
    if utc_now() - target.recorded_at > window:
        raise _refuse("correction_window",
                      f"已超过{rulebook.correction_window_days}天更正期限 — event {seq} was recorded on "
                      f"{target.recorded_at:%Y-%m-%d}; rulebook {rulebook.id} allows voiding within "
                      f"{rulebook.correction_window_days} days; use a compensating transition")

    before = replay(events[:-1])
    correction_seq = enterprise.last_seq + 1
    restored: dict[str, Any] = {}
    for title in enterprise.recognitions:
        if title.granted_by_seq == seq:
            title.ended_on, title.end_reason, title.ended_by_seq = title.recognized_on, VOIDED, correction_seq
        elif title.ended_by_seq == seq:
            title.ended_on, title.end_reason, title.ended_by_seq = None, None, None
    if target.kind == "amendment":
        for name, change in dict(target.evidence.get("changes") or {}).items():
            setattr(enterprise, name, change["from"])
            restored[name] = change["from"]
    if target.kind == SIDE_TITLE:
        side_titles.reconcile_void(session, enterprise.id, seq, correction_seq)
    latest_decision = enterprise.last_effective_date
    from_state = enterprise.state
    if before.state is not None:
        enterprise.state = before.state
    if enterprise.barred_until != before.barred_until:
        restored["barred_until"] = before.barred_until.isoformat() if before.barred_until else None
    enterprise.barred_until = before.barred_until
    event = repository.append_event(
        session, enterprise, kind=CORRECTION_KIND, trigger=CORRECTION_TRIGGER, from_state=from_state,
        effective_date=target.effective_date, actor=actor, rulebook=rulebook, reason=reason.strip(),
        evidence={"voids_seq": seq, "voided_trigger": target.trigger, "voided_hash": target.hash,
                  "restored": restored},
        request_id=request_id,
    )
    if target.kind in UNORDERED_KINDS:  # voiding what did not move the latest decision date does not either
        enterprise.last_effective_date = latest_decision
    awards.on_voided(session, enterprise.uscc, seq, actor=actor.id, request_id=request_id)  # issue 14
    return service.Outcome(enterprise, event)
