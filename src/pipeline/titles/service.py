"""Granting and ending side titles: each is a ``side_title`` event in the firm's chain, with the same
jurisdiction, permission and version (If-Match) rules as a transition. It flushes; the caller commits.

Side-title events are exempt from the ordering guard and do not move the firm's latest decision date
(certificates are keyed in late: :data:`pipeline.lifecycle.events.UNORDERED_KINDS`), but none may be dated
before the firm's enrolment, nor in the future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import SYSTEM, Actor, require_permission
from pipeline.awards import service as awards_service
from pipeline.awards.service import Settle
from pipeline.dates import business_today
from pipeline.errors import GuardFailed, InvalidInput, NotFound
from pipeline.firms import repository
from pipeline.firms.repository import check_version
from pipeline.lifecycle.events import SIDE_TITLE
from pipeline.models import Enterprise, Event, SideTitle
from pipeline.rulebooks import Rulebook, SideTitleKind, rulebook_in_force
from pipeline.titles.replay import END, GRANT, VOIDED, PlainSideTitle, grant_evidence

ISSUER_LEVELS: Final = ("national", "provincial", "city")
EXPIRE_PERMISSION: Final = "expire_side_title"
EXPIRED: Final = "expired"
EXPIRY_REASON = "有效期届满，称号自动失效 — the side title's validity ended"
ONE_DAY = dt.timedelta(days=1)

Scopes = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class SideTitleOutcome:
    enterprise: Enterprise
    side_title: SideTitle
    event: Event


def _refuse(guard: str, trigger: str, message: str) -> GuardFailed:
    return GuardFailed(message, guard=guard, trigger=trigger, refusals=[{"guard": guard, "message": message}])


def side_title_kind(rulebook: Rulebook, kind: str) -> SideTitleKind:
    found = rulebook.side_titles.get(kind)
    if found is None:
        known = ", ".join(rulebook.side_titles) or "none"
        raise InvalidInput(f"未知称号类别 — unknown side title kind {kind!r}; rulebook {rulebook.id} lists: {known}",
                           field="kind")
    return found


def enrolled_on(session: Session, uscc: str) -> dt.date | None:
    """The date of the firm's first event (its enrolment)."""
    return session.scalar(select(Event.effective_date).where(Event.uscc == uscc, Event.seq == 1))


def _check_date(session: Session, firm: Enterprise, day: dt.date, trigger: str, today: dt.date) -> None:
    if day > today:
        raise _refuse("effective_date_not_in_future", trigger,
                      f"日期{day}晚于今天{today} — {day} is in the future (today is {today})")
    enrolled = enrolled_on(session, firm.uscc)
    if enrolled is not None and day < enrolled:
        raise _refuse("side_title_not_before_enroll", trigger,
                      f"日期{day}早于该企业纳入培育库的日期{enrolled} — {day} is before the firm's enrolment "
                      f"({enrolled}); a side title may not precede enroll")


def plan_grant(
    rulebook: Rulebook, *, kind: str, granted_on: dt.date, document_no: str | None,
    valid_until: dt.date | None = None, issuer_level: str | None = None, product: str | None = None,
) -> PlainSideTitle:
    """Check a grant's own data against the rulebook (no firm needed: the import's dry run calls it too) and
    return the title it makes."""
    spec = side_title_kind(rulebook, kind)
    document = (document_no or "").strip()
    if not document:
        raise _refuse("decision_evidence_required", GRANT,
                      f"授予“{spec.label}”须提供文号 — granting {kind} needs document_no")
    level = (issuer_level or spec.issuer_level).strip()
    if level not in ISSUER_LEVELS:
        raise InvalidInput(f"未知发证层级 — issuer_level must be one of {', '.join(ISSUER_LEVELS)}, got {level!r}",
                           field="issuer_level")
    name = (product or "").strip() or None
    if spec.requires_product and name is None:
        raise InvalidInput(f"“{spec.label}”须填写产品名称 — {kind} needs product (the product's name)",
                           field="product")
    if not spec.requires_product and name is not None:
        raise InvalidInput(f"只有单项冠军产品填写产品名称 — product applies only to kinds that name one, not {kind}",
                           field="product")
    until = valid_until or spec.default_valid_until(granted_on)
    if until < granted_on:
        raise _refuse("valid_until_after_decision", GRANT,
                      f"有效期至{until}早于授予日期{granted_on} — valid_until must not precede granted_on")
    return PlainSideTitle(kind=kind, granted_on=granted_on, valid_until=until, issuer_level=level,
                          document_no=document, product=name)


def grant(
    session: Session, uscc: str, *, kind: str, granted_on: dt.date, document_no: str | None, actor: Actor,
    valid_until: dt.date | None = None, issuer_level: str | None = None, product: str | None = None,
    reason: str | None = None, expected_version: int | None = None, request_id: str | None = None,
    evidence: Mapping[str, object] | None = None, awards: Settle = "owed",
) -> SideTitleOutcome:
    """Grant a side title to a firm as of ``granted_on`` (a ``grant_side_title`` event). ``evidence`` is what
    the door adds (an import's file and row); the title's own record is the same from every door. The grant's
    entitlements under the policy packs (单项冠军, 重点“小巨人” matching) are derived in the same transaction;
    ``awards="none"`` leaves that to the caller (an import derives them after its rows, as it was told)."""
    firm, head = repository.lock_with_head(session, uscc, actor)
    check_version(firm, expected_version)
    rulebook = rulebook_in_force(granted_on)
    require_permission(rulebook, actor, GRANT)
    planned = plan_grant(rulebook, kind=kind, granted_on=granted_on, document_no=document_no,
                         valid_until=valid_until, issuer_level=issuer_level, product=product)
    _check_date(session, firm, granted_on, GRANT, business_today())
    event = repository.append_event(
        session, firm, kind=SIDE_TITLE, trigger=GRANT, from_state=firm.state, effective_date=granted_on,
        actor=actor, rulebook=rulebook, reason=reason,
        evidence={**grant_evidence(planned, rulebook.side_titles[kind].label), **(evidence or {})},
        request_id=request_id,
        previous_hash=head,
    )
    title = SideTitle(enterprise_id=firm.id, kind=planned.kind, granted_on=planned.granted_on,
                      valid_until=planned.valid_until, issuer_level=planned.issuer_level,
                      document_no=planned.document_no, product=planned.product, granted_by_seq=event.seq)
    session.add(title)
    session.flush()
    awards_service.entitle(session, firm, event, firm.recognitions, actor=actor.id, settle=awards,
                           request_id=request_id)  # issue 14
    return SideTitleOutcome(firm, title, event)


def _end_locked(
    session: Session, firm: Enterprise, title: SideTitle, *, ended_on: dt.date, reason_code: str | None,
    reason: str | None, actor: Actor, permission: str, previous_hash: str | None, request_id: str | None,
    extra: Mapping[str, object] | None = None,
) -> Event:
    rulebook = rulebook_in_force(ended_on)
    require_permission(rulebook, actor, permission)
    catalogue = rulebook.reasons_for(END)
    if not reason_code:
        raise _refuse("reason_code_required", END, f"结束称号须填写原因代码 — {END} needs a reason_code, one of: "
                                                   f"{', '.join(catalogue)}")
    if reason_code not in catalogue:
        raise _refuse("reason_code_in_catalogue", END,
                      f"原因代码'{reason_code}'不在{rulebook.id}的目录中 — reason_code {reason_code!r} is not in "
                      f"{rulebook.id}'s catalogue for {END}: {', '.join(catalogue)}")
    if title.ended_on is not None:
        raise _refuse("side_title_open", END, f"该称号已于{title.ended_on}结束 — side title {title.id} already "
                                              f"ended on {title.ended_on}")
    if ended_on < title.granted_on:
        raise _refuse("side_title_not_before_grant", END,
                      f"结束日期{ended_on}早于授予日期{title.granted_on} — ended_on must not precede granted_on")
    event = repository.append_event(
        session, firm, kind=SIDE_TITLE, trigger=END, from_state=firm.state, effective_date=ended_on, actor=actor,
        rulebook=rulebook, reason_code=reason_code, reason=reason,
        evidence={"kind": title.kind, "granted_by_seq": title.granted_by_seq, "side_title_id": title.id,
                  **(extra or {})},
        request_id=request_id, previous_hash=previous_hash, flush=False,
    )
    title.ended_on, title.end_reason_code, title.ended_by_seq = ended_on, reason_code, event.seq
    return event


def end(
    session: Session, uscc: str, title_id: int, *, ended_on: dt.date, reason_code: str | None,
    reason: str | None, actor: Actor, expected_version: int | None = None, request_id: str | None = None,
) -> SideTitleOutcome:
    """End a side title before its validity ends (an ``end_side_title`` event)."""
    firm, head = repository.lock_with_head(session, uscc, actor)
    check_version(firm, expected_version)
    title = session.scalars(select(SideTitle).where(SideTitle.id == title_id,
                                                    SideTitle.enterprise_id == firm.id)).one_or_none()
    if title is None:
        raise NotFound(f"企业{firm.uscc}没有编号为{title_id}的称号 — firm {firm.uscc} has no side title {title_id}")
    require_permission(rulebook_in_force(ended_on), actor, END)
    _check_date(session, firm, ended_on, END, business_today())
    event = _end_locked(session, firm, title, ended_on=ended_on, reason_code=reason_code, reason=reason,
                        actor=actor, permission=END, previous_hash=head, request_id=request_id)
    session.flush()
    return SideTitleOutcome(firm, title, event)


def reconcile_void(session: Session, firm_id: int, seq: int, correction_seq: int) -> None:
    """Undo what side-title event ``seq`` did, as a correction voids it: a title it granted ends on its own
    grant date with ``voided`` (so it was never held); a title it ended is open again."""
    for title in session.scalars(select(SideTitle).where(SideTitle.enterprise_id == firm_id)):
        if title.granted_by_seq == seq:
            title.ended_on, title.end_reason_code, title.ended_by_seq = title.granted_on, VOIDED, correction_seq
        elif title.ended_by_seq == seq:
            title.ended_on, title.end_reason_code, title.ended_by_seq = None, None, None


def held(session: Session, uscc: str, actor: Actor, as_of: dt.date | None = None) -> list[SideTitle]:
    """The firm's side titles held on ``as_of``, or every one it has held (voided grants left out)."""
    firm = repository.get_enterprise(session, uscc, actor)
    query = select(SideTitle).where(SideTitle.enterprise_id == firm.id).order_by(SideTitle.id)
    if as_of is not None:
        query = query.where(SideTitle.valid_on_clause(as_of))
    return [t for t in session.scalars(query) if t.end_reason_code != VOIDED]


# --- the expiry sweep ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiredSideTitle:
    uscc: str
    kind: str
    valid_until: dt.date
    ended_on: dt.date
    seq: int | None
    """The end event's seq once applied; ``None`` in a dry run."""


def lapsed(session: Session, as_of: dt.date, region_prefix: str | None) -> Sequence[tuple[str, int]]:
    """(uscc, firm id) of every firm holding an open side title whose validity ended before ``as_of``."""
    query = (select(Enterprise.uscc, Enterprise.id).join(SideTitle, SideTitle.enterprise_id == Enterprise.id)
             .where(SideTitle.ended_on.is_(None), SideTitle.valid_until < as_of).distinct().order_by(Enterprise.id))
    if region_prefix:
        query = query.where(Enterprise.region_code.startswith(region_prefix))
    return [(uscc, firm_id) for uscc, firm_id in session.execute(query)]


def expire_firm(session: Session, firm_id: int, as_of: dt.date, *, apply: bool, evidence: Mapping[str, object],
                request_id: str | None) -> list[ExpiredSideTitle]:
    """End each of the firm's side titles lapsed by ``as_of`` (``apply``; else only report them), dated the
    first day it was no longer valid, recorded by the ``system`` actor."""
    query = select(Enterprise).where(Enterprise.id == firm_id)
    firm = session.scalars(query.with_for_update() if apply else query).one()
    titles = session.scalars(select(SideTitle).where(
        SideTitle.enterprise_id == firm_id, SideTitle.ended_on.is_(None), SideTitle.valid_until < as_of,
    ).order_by(SideTitle.valid_until, SideTitle.id)).all()
    done: list[ExpiredSideTitle] = []
    head: str | None = None
    for title in titles:
        day = title.valid_until + ONE_DAY
        seq = None
        if apply:
            event = _end_locked(session, firm, title, ended_on=day, reason_code=EXPIRED, reason=EXPIRY_REASON,
                                actor=SYSTEM, permission=EXPIRE_PERMISSION, previous_hash=head,
                                request_id=request_id, extra=evidence)
            head, seq = event.hash, event.seq
        done.append(ExpiredSideTitle(firm.uscc, title.kind, title.valid_until, day, seq))
    if apply:
        session.flush()
    return done


def sweep_side_titles(scopes: Scopes, as_of: dt.date, *, apply: bool, requested_by: Actor,
                      evidence: Mapping[str, object], request_id: str | None = None) -> list[ExpiredSideTitle]:
    """End every side title lapsed by ``as_of`` in ``requested_by``'s jurisdiction (a dry run without
    ``apply``); one transaction per firm. Safe to repeat: a second run finds nothing left open."""
    if apply:
        require_permission(rulebook_in_force(as_of), requested_by, EXPIRE_PERMISSION)
    with scopes() as session:
        firms = lapsed(session, as_of, requested_by.region_prefix)
    done: list[ExpiredSideTitle] = []
    for _, firm_id in firms:
        with scopes() as session:
            done.extend(expire_firm(session, firm_id, as_of, apply=apply, evidence=evidence,
                                    request_id=request_id))
    return done
