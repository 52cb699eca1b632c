"""Business actions on firms. Each call is one unit of work in the caller's session: lock the firm,
check, fire the machine, append the event. It flushes; the caller (one request, one CLI command) commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.access import Actor, permission_refusal, require_permission
from pipeline.dates import add_years, business_today, parse_date, utc_now, validity_end
from pipeline.errors import AlreadyExists, GuardFailed, InvalidInput, NotFound, VersionMismatch
from pipeline.identifiers import region_of_uscc, validate_region, validate_uscc
from pipeline.lifecycle import chain as audit
from pipeline.lifecycle import guards, machine
from pipeline.models import Enterprise, Event, Recognition
from pipeline.rulebooks import TITLE_TIERS, Rulebook, rulebook_in_force

DEFAULT_ENROLL_REASON = "纳入培育库 (enrolled in the cultivation pool)"
EDITABLE_FIELDS = ("name", "region_code", "data")


@dataclass(frozen=True)
class Outcome:
    enterprise: Enterprise
    event: Event


def get_enterprise(session: Session, uscc: str, actor: Actor, *, for_update: bool = False) -> Enterprise:
    """The firm, if it exists and lies in the actor's jurisdiction; otherwise :class:`NotFound`.

    Outside the jurisdiction is indistinguishable from absent, so a caller learns nothing of other regions.
    ``for_update`` takes the row lock for the rest of the transaction (SQLite: the writer lock already held).
    """
    code = validate_uscc(uscc)
    query = select(Enterprise).where(Enterprise.uscc == code)
    if for_update:
        query = query.with_for_update()
    return _in_jurisdiction(session.scalars(query).one_or_none(), actor, code)


def _in_jurisdiction(enterprise: Enterprise | None, actor: Actor, code: str) -> Enterprise:
    if enterprise is None or not actor.covers(enterprise.region_code):
        raise NotFound(f"未找到企业{code} — no enterprise {code} in your jurisdiction")
    return enterprise


def _lock_with_head(session: Session, uscc: str, actor: Actor) -> tuple[Enterprise, str | None]:
    """:func:`get_enterprise` with ``for_update``, plus the hash of the firm's last event read in the same
    statement (one round trip fewer, and no autoflush of a half-made change before the event is sealed).

    The hash is that of the event ``(uscc, last_seq)`` of the *locked* row. On PostgreSQL, a statement that
    waited for the lock re-reads the locked row at its newest version but evaluates the subquery in the
    snapshot taken when the statement began: the event that the lock holder appended is then invisible and
    the hash comes back NULL — never another event's hash, since ``(uscc, seq)`` is unique and events are
    immutable. ``None`` makes :func:`append_event` read the head in a statement of its own, as it always did.
    (The recognitions are loaded by their own statement, after the lock, for the same reason.)
    """
    code = validate_uscc(uscc)
    head = (select(Event.hash).where(Event.uscc == Enterprise.uscc, Event.seq == Enterprise.last_seq)
            .correlate(Enterprise).scalar_subquery())
    row = session.execute(
        select(Enterprise, head).where(Enterprise.uscc == code).with_for_update(of=Enterprise)
    ).one_or_none()
    return _in_jurisdiction(row[0] if row else None, actor, code), row[1] if row else None


def _check_version(enterprise: Enterprise, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != enterprise.version:
        raise VersionMismatch(
            f"企业{enterprise.uscc}已被修改（当前版本{enterprise.version}） — expected version {expected_version}, "
            f"the firm is at version {enterprise.version}; reload it and retry",
            current_version=enterprise.version,
        )


def append_event(
    session: Session,
    enterprise: Enterprise,
    *,
    kind: str,
    trigger: str | None,
    from_state: str | None,
    effective_date: dt.date,
    actor: Actor,
    rulebook: Rulebook,
    reason_code: str | None = None,
    reason: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    previous_hash: str | None = None,
    flush: bool = True,
) -> Event:
    """Seal and add the firm's next event. Bulk callers (imports) that already know the chain's last hash
    pass ``previous_hash`` and ``flush=False`` and flush once per chunk; the event is the same either way."""
    previous = previous_hash if previous_hash is not None else session.scalars(
        select(Event.hash).where(Event.uscc == enterprise.uscc, Event.seq == enterprise.last_seq)
    ).one_or_none()
    # The firm's updated_at is its head event's recorded_at (every event sets both): read under the lock.
    now = audit.next_recorded_at(enterprise.updated_at if enterprise.last_seq else None, utc_now())
    event = Event(
        enterprise_id=enterprise.id,
        uscc=enterprise.uscc,
        seq=enterprise.last_seq + 1,
        kind=kind,
        trigger=trigger,
        from_state=from_state,
        to_state=enterprise.state,
        effective_date=effective_date,
        recorded_at=now,
        actor=actor.id,
        reason_code=reason_code,
        reason=reason,
        evidence=dict(evidence or {}),
        rulebook_id=rulebook.id,
        rulebook_hash=rulebook.content_hash,
        request_id=request_id,
    )
    audit.seal(event, previous or audit.GENESIS_HASH)
    enterprise.last_seq = event.seq
    if kind != "amendment":
        # Amendments (a rename, a filing) carry today's date but change no state or title, so they must not
        # stop a decision from last month being keyed in today; only state-bearing events order the firm.
        enterprise.last_effective_date = max(effective_date, enterprise.last_effective_date or effective_date)
    enterprise.version += 1
    enterprise.updated_at = now
    session.add(event)
    if flush:
        session.flush()
    return event


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
    name = (name or "").strip()
    if not name:
        raise InvalidInput("企业名称不能为空 — name must not be empty", field="name")
    region = validate_region(region_code or region_of_uscc(code))
    day = effective_date or business_today()
    rulebook = rulebook_in_force(day)
    require_permission(rulebook, actor, "enroll")
    if not actor.covers(region):
        raise NotFound(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction")
    if session.scalars(select(Enterprise.id).where(Enterprise.uscc == code)).first() is not None:
        raise AlreadyExists(f"企业{code}已存在 — enterprise {code} already exists", uscc=code)
    now = utc_now()
    enterprise = Enterprise(
        uscc=code, name=name, region_code=region, state=machine.NEW, version=0, last_seq=0,
        data=dict(data or {}), flags={}, created_at=now, updated_at=now,
        recognitions=[],  # a new firm holds no titles: say so, rather than have the response load them
    )
    proposal = guards.Proposal(
        trigger="enroll", state=machine.NEW, titles=[], barred_until=None, last_effective_date=None,
        effective_date=day, today=business_today(), rulebook=rulebook, reason=reason,
    )
    _raise_refusals(guards.check(proposal), "enroll")
    machine.fire(rulebook, "enroll", enterprise)
    try:
        with session.begin_nested():
            session.add(enterprise)
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"企业{code}已存在 — enterprise {code} already exists", uscc=code) from None
    event = append_event(
        session, enterprise, kind="transition", trigger="enroll", from_state=None, effective_date=day,
        actor=actor, rulebook=rulebook, reason=reason or DEFAULT_ENROLL_REASON,
        evidence={"name": name, "region_code": region, "data": enterprise.data, **(evidence or {})},
        request_id=request_id,
        previous_hash=audit.GENESIS_HASH,  # a firm's first event: its chain starts here
    )
    return Outcome(enterprise, event)


def _raise_refusals(refusals: list[guards.Refusal], trigger: str) -> None:
    if refusals:
        first = refusals[0]
        raise GuardFailed(
            first.message if len(refusals) == 1 else "; ".join(r.message for r in refusals),
            guard=first.guard,
            trigger=trigger,
            refusals=[r.as_dict() for r in refusals],
        )


def _normalized_evidence(evidence: Mapping[str, Any] | None) -> dict[str, Any]:
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
) -> Outcome:
    """Fire ``trigger`` on a firm as of ``effective_date``: guards, machine, titles, event — all or nothing."""
    enterprise, head = _lock_with_head(session, uscc, actor)
    _check_version(enterprise, expected_version)
    rulebook = rulebook_in_force(effective_date)
    machine.require_known(trigger, enterprise.state)
    from_state, event_evidence = decide(
        enterprise, trigger, effective_date, actor=actor, rulebook=rulebook, today=business_today(),
        reason_code=reason_code, reason=reason, facts=_normalized_evidence(evidence), new_title=Recognition,
    )
    if trigger in guards.RECOGNITION_TIER:  # recorded regardless; where our data disagrees the event says so
        from pipeline.screening.candidates import recognition_warning  # late: screening builds on this module

        event_evidence.update(recognition_warning(session, enterprise, trigger, effective_date, rulebook))
    event = append_event(
        session, enterprise, kind="transition", trigger=trigger, from_state=from_state,
        effective_date=effective_date, actor=actor, rulebook=rulebook, reason_code=reason_code,
        reason=reason, evidence=event_evidence, request_id=request_id, previous_hash=head,
    )
    return Outcome(enterprise, event)


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
    its state, titles and bar. Returns the state it left and the evidence its event records.

    The one decision path for the service (ORM rows), the expiry sweep and the bulk import (plain records);
    appending the event is the caller's, since each writes it its own way.
    """
    require_permission(rulebook, actor, trigger)
    machine.require_allowed(rulebook, trigger, holder.state)
    _raise_refusals(guards.check(guards.Proposal(
        trigger=trigger, state=holder.state, titles=list(holder.recognitions), barred_until=holder.barred_until,
        last_effective_date=holder.last_effective_date, effective_date=effective_date, today=today,
        rulebook=rulebook, reason_code=reason_code, reason=reason, evidence=facts,
    )), trigger)
    from_state = holder.state
    landing = guards.landing_state(from_state, holder.recognitions, effective_date)
    machine.fire(rulebook, trigger, holder, landing=landing if trigger in ("demote", "expire") else None)
    recorded = apply_titles(holder, trigger, from_state, effective_date, reason_code, facts, rulebook,
                            holder.last_seq + 1, new_title)
    evidence = {**facts, **recorded}
    if isinstance(evidence.get("valid_until"), dt.date):
        evidence["valid_until"] = evidence["valid_until"].isoformat()
    return from_state, evidence


class TitleRow(guards.TitleLike, Protocol):
    """A title as the bookkeeping below needs it: an ORM :class:`Recognition` or a replayed copy."""

    document_no: str | None
    batch: str | None
    end_reason: str | None
    granted_by_seq: int
    ended_by_seq: int | None


class TitleHolder(Protocol):
    """A firm as the bookkeeping below needs it: an ORM :class:`Enterprise` or a replayed copy."""

    state: str
    barred_until: dt.date | None

    @property
    def recognitions(self) -> list[Any]: ...


class FirmLike(TitleHolder, Protocol):
    """A loaded firm as :func:`decide` needs it: an ORM :class:`Enterprise` or an import's plain record."""

    last_effective_date: dt.date | None
    last_seq: int


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
    event records of it. ``new_title(**columns)`` builds a title row: :class:`Recognition` in the service,
    a plain object in :mod:`pipeline.history.replay`, so that the live firm and its replay share one bookkeeping."""
    titles: list[TitleRow] = holder.recognitions
    open_titles = [t for t in titles if t.ended_on is None]
    if trigger in guards.RECOGNITION_TIER:
        tier = guards.RECOGNITION_TIER[trigger]
        valid_until = facts.get("valid_until") or validity_end(day, rulebook.validity_years[tier])
        titles.append(new_title(
            tier=tier, document_no=facts.get("document_no"), batch=facts.get("batch"), recognized_on=day,
            valid_until=valid_until, granted_by_seq=seq,
        ))
        return {"tier": tier, "valid_until": valid_until.isoformat()}
    if trigger == "renew":
        old = guards.current_title(titles, from_state)
        assert old is not None  # the renewal guard refused otherwise
        start = max(old.valid_until + dt.timedelta(days=1), day)
        valid_until = facts.get("valid_until") or validity_end(start, rulebook.validity_years[from_state])
        _end(old, day, "renewed", seq)
        titles.append(new_title(
            tier=from_state, document_no=facts.get("document_no"), batch=facts.get("batch"),
            recognized_on=day, valid_until=valid_until, granted_by_seq=seq,
        ))
        return {"tier": from_state, "valid_until": valid_until.isoformat()}
    if trigger in ("demote", "expire"):
        keep = TITLE_TIERS.index(holder.state) if holder.state in TITLE_TIERS else -1
        ended = []
        for title in open_titles:
            lapsed = title.valid_until < day
            if TITLE_TIERS.index(title.tier) > keep or lapsed:
                _end(title, day, "expired" if trigger == "expire" or lapsed else (reason_code or "demoted"), seq)
                ended.append(title.tier)
        return {"ended_titles": ended}
    if trigger in ("revoke", "remove"):
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
    enterprise, head = _lock_with_head(session, uscc, actor)
    _check_version(enterprise, expected_version)
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
        session, enterprise, kind="amendment", trigger=None, from_state=enterprise.state, effective_date=day,
        actor=actor, rulebook=rulebook, reason=reason, evidence={"changes": diff}, request_id=request_id,
        previous_hash=head,
    )
    return Outcome(enterprise, event)


@dataclass(frozen=True)
class TriggerOption:
    trigger: str
    allowed: bool
    reasons: list[str]


def trigger_options(enterprise: Enterprise, actor: Actor, on: dt.date | None = None) -> list[TriggerOption]:
    """Every trigger with whether this actor could fire it on this firm today, and why not."""
    day = on or business_today()
    rulebook = rulebook_in_force(day)
    from_here = machine.triggers_from(enterprise.state)
    options = []
    for trigger in machine.TRIGGERS:
        reasons = []
        if trigger not in from_here:
            reasons.append(
                f"当前状态“{rulebook.label(enterprise.state)}”不允许 — not allowed from state {enterprise.state!r}")
        refusal = permission_refusal(rulebook, actor, trigger)
        if refusal:
            reasons.append(refusal)
        if trigger in from_here:
            proposal = guards.Proposal(
                trigger=trigger, state=enterprise.state, titles=list(enterprise.recognitions),
                barred_until=enterprise.barred_until, last_effective_date=enterprise.last_effective_date,
                effective_date=day, today=day, rulebook=rulebook,
            )
            reasons.extend(r.message for r in guards.check_state_only(proposal))
        options.append(TriggerOption(trigger, not reasons, reasons))
    return options


def history(session: Session, enterprise: Enterprise) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.uscc == enterprise.uscc).order_by(Event.seq)))
