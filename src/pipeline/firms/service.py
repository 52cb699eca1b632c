"""Business actions on firms. Each call is one unit of work in the caller's session: lock the firm,
check, fire the machine, append the event. It flushes; the caller (one request, one CLI command) commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from pipeline.access import Actor, permission_refusal, require_permission
from pipeline.awards import service as awards
from pipeline.dates import business_today, utc_now
from pipeline.errors import AlreadyExists, GuardFailed, InvalidInput, NotFound
from pipeline.firms import repository
from pipeline.firms.records import FirmRecord, TitleRecord
from pipeline.firms.repository import append_event, check_version, lock_with_head
from pipeline.identifiers import region_of_uscc, validate_region, validate_uscc
from pipeline.lifecycle import guards, machine
from pipeline.lifecycle.chain import GENESIS_HASH
from pipeline.lifecycle.decide import FirmLike, check_enroll, decide, normalized_facts
from pipeline.lifecycle.events import AMENDMENT, TRANSITION, EventRecord, next_event
from pipeline.lifecycle.machine import RECOGNITION_TIER
from pipeline.models import Enterprise, Event
from pipeline.rulebooks import Rulebook, rulebook_in_force
from pipeline.screening.warning import side_kinds_on, warning_for

DEFAULT_ENROLL_REASON = "纳入培育库 (enrolled in the cultivation pool)"
EDITABLE_FIELDS = ("name", "region_code", "data")


@dataclass(frozen=True)
class Outcome:
    """What a business action left: the firm and its new event — ORM rows, or the plain records of the Core
    write path (same attribute names)."""

    enterprise: Enterprise | FirmRecord
    event: Event | EventRecord


def enroll(
    session: Session,
    *,
    uscc: str,
    name: str,
    actor: Actor,
    region_code: str | None = None,
    effective_date: dt.date | None = None,
    reason: str | None = None,
    data: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Outcome:
    """Create a firm in ``reserve``; its creation is its first event (``enroll``)."""
    code = validate_uscc(uscc)
    region = validate_region(region_code or region_of_uscc(code))
    day = effective_date or business_today()
    rulebook = rulebook_in_force(day)
    name = check_new_firm(name=name, region=region, day=day, rulebook=rulebook, actor=actor, reason=reason)
    now = utc_now()
    firm = FirmRecord(uscc=code, name=name, region_code=region, state=machine.NEW, version=0, last_seq=0,
                      barred_until=None, last_effective_date=None, created_at=now, updated_at=now,
                      data=dict(data or {}))
    machine.fire(rulebook, "enroll", firm)
    event = next_event(
        firm, kind=TRANSITION, trigger="enroll", from_state=None, effective_date=day, actor_id=actor.id,
        rulebook=rulebook, reason=reason or DEFAULT_ENROLL_REASON,
        evidence=enroll_evidence(name, region, data, evidence), request_id=request_id, now=now,
        previous_hash=GENESIS_HASH, user=actor.user,  # a firm's first event: its chain starts here
    )
    if not repository.insert_record(session, firm, event):
        raise AlreadyExists(f"企业{code}已存在 — enterprise {code} already exists", uscc=code)
    return Outcome(firm, event)


def check_new_firm(*, name: str, region: str, day: dt.date, rulebook: Rulebook, actor: Actor,
                   reason: str | None) -> str:
    """Everything that may refuse a new firm's ``enroll`` before it has a row; returns the clean name.
    The service and the bulk import both call it."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("企业名称不能为空 — name must not be empty", field="name")
    require_permission(rulebook, actor, "enroll")
    if not actor.covers(region):
        raise NotFound(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction")
    check_enroll(rulebook, actor, day, business_today(), reason)
    return name


def enroll_evidence(name: str, region: str, data: Mapping[str, Any] | None,
                    extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a new firm's ``enroll`` event records: every field of the firm, so it is audited from day one."""
    return {"name": name, "region_code": region, "data": dict(data or {}), **(extra or {})}


def transition(
    session: Session,
    uscc: str,
    *,
    trigger: str,
    effective_date: dt.date,
    actor: Actor,
    reason_code: str | None = None,
    reason: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    request_id: str | None = None,
    arrives_in: str | None = None,
) -> Outcome:
    """Fire ``trigger`` on a firm as of ``effective_date``: guards, machine, titles, event — all or nothing.

    The hot path of the API: one statement locks and loads the firm (with its chain head, titles and, for a
    recognition, its latest indicators), the kernel decides on the plain record, the event factory seals the
    event, and one statement writes it all (SQLAlchemy Core; see :func:`repository.write_record`).

    ``arrives_in`` (with ``enroll`` only): a firm that moved away (removed as ``relocated``) is enrolled again
    where it arrives, by an official of that region; it moves there and gets back its highest valid title.
    """
    recognition = trigger in RECOGNITION_TIER
    if arrives_in is not None:
        arrives_in = _arrival_region(arrives_in, trigger, actor)
    # a firm registered where no pack pays (its USCC says where) is read without the awards context
    slots = awards.earning_slots(trigger) if recognition and awards.may_pay_here(region_of_uscc(uscc)) else ()
    firm, latest, owed = repository.lock_record(session, uscc, actor, arrives_in=arrives_in,
                                                indicators_before=effective_date.year if recognition else None,
                                                award_slots=slots)
    if owed is None and recognition and awards.earning_slots(trigger) and awards.may_pay_here(firm.region_code):
        owed = awards.read_context(session, firm.uscc)  # registered elsewhere, now where a pack pays
    moved_from = firm.region_code if arrives_in is not None and arrives_in != firm.region_code else None
    if moved_from is not None and not (actor.covers(moved_from) or repository.moved_away(session, firm)):
        raise NotFound(f"未找到企业{firm.uscc} — no enterprise {firm.uscc} in your jurisdiction")
    check_version(firm, expected_version)
    rulebook = rulebook_in_force(effective_date)
    machine.require_known(trigger, firm.state)
    from_state, event_evidence = decide(
        firm, trigger, effective_date, actor=actor, rulebook=rulebook, today=business_today(),
        reason_code=reason_code, reason=reason, facts=normalized_facts(evidence), new_title=TitleRecord,
    )
    if recognition:  # recorded regardless; where our data disagrees the event says so
        event_evidence.update(warning_for(firm, trigger, effective_date, rulebook, latest,
                                          side_kinds_on(firm.side_titles, effective_date)))
    if moved_from is not None and arrives_in is not None:
        event_evidence["region_code"] = {"from": moved_from, "to": arrives_in}
        firm.region_code = arrives_in
    event = next_event(
        firm, kind=TRANSITION, trigger=trigger, from_state=from_state, effective_date=effective_date,
        actor_id=actor.id, rulebook=rulebook, reason_code=reason_code, reason=reason, evidence=event_evidence,
        request_id=request_id, enterprise_id=firm.id, previous_hash=firm.head_hash or GENESIS_HASH,
        user=actor.user,
    )
    earned = [] if owed is None else awards.derive(  # issue 14: written with the event, in one statement
        firm, event, firm.recognitions, owed, actor=actor.id, request_id=request_id,
        allocate=lambda count: awards.allocate_ids(session, count))
    repository.write_record(session, firm, event, earned)
    if moved_from is not None:
        repository.move(session, firm, firm.region_code)
    if not recognition:  # a revoke for false information claws back what was paid
        awards.entitle(session, firm, event, firm.recognitions, actor=actor.id, request_id=request_id)
    return Outcome(firm, event)


def _arrival_region(region_code: str, trigger: str, actor: Actor) -> str:
    if trigger != "enroll":
        raise InvalidInput("迁入区划仅用于重新纳入迁出辖区的企业（enroll） — region_code goes only with enroll of a "
                           "firm that moved away", field="region_code")
    region = validate_region(region_code)
    if not actor.covers(region):
        raise GuardFailed(f"迁入区划{region}不在您的辖区内 — region {region} is outside your jurisdiction",
                          guard="region_within_jurisdiction", trigger=trigger)
    return region


def amend(
    session: Session,
    uscc: str,
    *,
    changes: Mapping[str, Any],
    actor: Actor,
    reason: str | None = None,
    expected_version: int | None = None,
    request_id: str | None = None,
) -> Outcome:
    """Edit a firm's data (name, region, further data) as an ``amendment`` event."""
    enterprise, head = lock_with_head(session, uscc, actor)
    check_version(enterprise, expected_version)
    day = max(business_today(), enterprise.last_effective_date or business_today())
    rulebook = rulebook_in_force(day)
    require_permission(rulebook, actor, "amend")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"不可修改的字段 — cannot edit {', '.join(sorted(unknown))}; editable: "
                           f"{', '.join(EDITABLE_FIELDS)}", field=sorted(unknown)[0])
    diff: dict[str, dict[str, Any]] = {}
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        if not name:
            raise InvalidInput("企业名称不能为空 — name must not be empty", field="name")
        if name != enterprise.name:
            diff["name"] = {"from": enterprise.name, "to": name}
            enterprise.name = name
    if "region_code" in changes:
        region = validate_region(str(changes["region_code"] or ""))
        if not actor.covers(region):
            raise GuardFailed(
                f"新区划{region}不在您的辖区内；迁出辖区请使用 remove（relocated） — region {region} is outside "
                f"your jurisdiction; a move out of it is a remove with reason_code relocated",
                guard="region_within_jurisdiction", trigger="amend")
        if region != enterprise.region_code:
            diff["region_code"] = {"from": enterprise.region_code, "to": region}
            enterprise.region_code = region
    if "data" in changes:
        new_data = changes["data"]
        if not isinstance(new_data, Mapping):
            raise InvalidInput("data 应为对象 — data must be a JSON object", field="data")
        merged = {**enterprise.data, **new_data}
        merged = {key: value for key, value in merged.items() if value is not None}
        if merged != enterprise.data:
            diff["data"] = {"from": enterprise.data, "to": merged}
            enterprise.data = merged
    if not diff:
        raise InvalidInput("没有需要修改的内容 — nothing to change: every given value equals the current one")
    event = append_event(
        session, enterprise, kind=AMENDMENT, trigger=None, from_state=enterprise.state, effective_date=day,
        actor=actor, rulebook=rulebook, reason=reason, evidence={"changes": diff}, request_id=request_id,
        previous_hash=head,
    )
    return Outcome(enterprise, event)


@dataclass(frozen=True)
class TriggerOption:
    trigger: str
    allowed: bool
    reasons: tuple[str, ...]


def trigger_options(enterprise: FirmLike, actor: Actor, on: dt.date | None = None) -> list[TriggerOption]:
    """Every trigger with whether this actor could fire it on this firm today, and why not.

    Every firm detail the API answers carries these, and they depend on few things (the firm's state, its
    titles' dates, its bar, the day, the actor's role and grants): they are computed once per such key."""
    day = on or business_today()
    titles = tuple((t.tier, t.recognized_on, t.valid_until, t.ended_on) for t in enterprise.recognitions)
    return list(_trigger_options(enterprise.state, titles, enterprise.barred_until, enterprise.last_effective_date,
                                 day, actor.role, actor.level, actor.grants))


@lru_cache(maxsize=4096)
def _trigger_options(state: str, titles: tuple[tuple[str, dt.date, dt.date, dt.date | None], ...],
                     barred_until: dt.date | None, last_effective_date: dt.date | None, day: dt.date, role: str,
                     level: str | None, grants: tuple[str, ...]) -> tuple[TriggerOption, ...]:
    rulebook = rulebook_in_force(day)
    actor = Actor(id="", role=role, level=level, grants=grants)  # permission_refusal reads no more than these
    from_here = machine.triggers_from(state)
    held = [guards.PlainTitle(tier, recognized_on, valid_until, ended_on=ended_on)
            for tier, recognized_on, valid_until, ended_on in titles]
    options = []
    for trigger in machine.TRIGGERS:
        reasons = []
        if trigger not in from_here:
            reasons.append(f"当前状态“{rulebook.label(state)}”不允许 — not allowed from state {state!r}")
        refusal = next(filter(None, (permission_refusal(rulebook, actor, permission)
                                     for permission in machine.required_permissions(trigger, state))),
                       None)
        if refusal:
            reasons.append(refusal)
        if trigger in from_here:
            proposal = guards.Proposal(
                trigger=trigger, state=state, titles=held, barred_until=barred_until,
                last_effective_date=last_effective_date, effective_date=day, today=day, rulebook=rulebook,
            )
            reasons.extend(r.message for r in guards.check_state_only(proposal))
        options.append(TriggerOption(trigger, not reasons, tuple(reasons)))
    return tuple(options)
