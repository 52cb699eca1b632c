"""Entitlements derived from recognitions, and what later events do to them.

:func:`derive` is the one computation every door uses after it records an event: for a recognition, every
pack in force on its effective date whose jurisdiction covers the firm yields an entitlement, stacked, with its
sealed first record. The service's transitions read what it needs in the statement that locks the firm and
write its rows in the statement that writes the event; the import engine, ``pipeline awards sync`` and side
titles call :func:`entitle` (read, derive, write). A ``revoke`` for ``false_information`` makes every paid
share ``clawback_due``. :func:`on_voided` follows a correction.

Stacking (从高、不重复): within one stacking group the highest award for an achievement is owed and lower
duplicates are recorded at 0 naming it (``superseded_by``); in ``top_up`` mode a later achievement is owed
only the difference from what the group already owes the firm (``offsets``).
由认定自动生成应享奖励（免申即享），从高、不重复，按付款方拆分。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from operator import attrgetter, itemgetter
from typing import Any, Literal, Protocol

from sqlalchemy import Select, bindparam, func, insert, literal, select, true
from sqlalchemy.orm import Session

from pipeline.awards import ledger
from pipeline.dates import business_today, utc_now
from pipeline.db import CopyBatch, connection_rows, copy_values
from pipeline.errors import InvalidInput
from pipeline.identifiers import region_prefix
from pipeline.lifecycle.machine import RECOGNITION_TIER
from pipeline.models import Base, Entitlement, EntitlementRecord
from pipeline.policies import FIRM_COUNTY, Award, PolicyPack, shipped_packs
from pipeline.policies.service import latest_versions, packs_from

Settle = Literal["owed", "settled", "none"]
SETTLE_MODES: tuple[str, ...] = ("owed", "settled", "none")
LIVE = ("entitled", "approved", "partially_paid", "paid")
"""Statuses of an entitlement that still counts as owed to the firm (and so offsets later top-ups)."""
FALSE_INFORMATION = "false_information"


class Title(Protocol):
    tier: str
    granted_by_seq: int
    end_reason: str | None


class Firm(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def uscc(self) -> str: ...
    @property
    def region_code(self) -> str: ...


class Achieved(Protocol):
    seq: int
    trigger: str | None
    reason_code: str | None
    effective_date: dt.date
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Unearned:
    seq: int | None
    trigger: str | None
    side_title_kind: str | None
    effective_date: dt.date
    policy_id: str
    award_id: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        kind = {"side_title_kind": self.side_title_kind} if self.side_title_kind else {"trigger": self.trigger}
        return {"seq": self.seq, **kind, "effective_date": self.effective_date.isoformat(),
                "policy_id": self.policy_id, "award_id": self.award_id, "reason": self.reason}


@dataclass(frozen=True)
class Candidate:
    pack: PolicyPack
    award: Award
    gross: int


@lru_cache(maxsize=4096)
def may_pay_here(region_code: str) -> bool:
    """No shipped pack covers this region: nothing to derive, and no query spent finding that out (a stored
    version changes amounts and windows, never a jurisdiction)."""
    return any(pack.covers(region_code) for pack in shipped_packs())


@cache
def earns_anywhere(achievement: str) -> bool:
    """Whether any shipped pack has an award for this trigger or side-title kind (``recognize_innovative``,
    ``renew`` … earn nothing anywhere: an import of them need not look for entitlements)."""
    return any(award.achievement == achievement for pack in shipped_packs() for award in pack.awards)


def side_title_kind(event: Achieved) -> str | None:
    """The kind of a side-title grant event (issue 13's ``grant_side_title``), else ``None``."""
    if event.trigger == "grant_side_title":
        kind = event.evidence.get("kind") or event.evidence.get("side_title_kind")
        return str(kind) if kind else None
    return None


def evaluate(packs: Sequence[PolicyPack], region_code: str, event: Achieved, titles: Iterable[Title],
             ) -> tuple[list[Candidate], list[Unearned]]:
    """What an achievement earns under the packs covering the firm, before stacking — and why the rest earn
    nothing. Pure: the same answer for the live path, imports, sync and the firm's award page."""
    kind = side_title_kind(event)
    achievement = kind or event.trigger or ""
    tier = RECOGNITION_TIER.get(event.trigger or "")
    earlier = tier is not None and any(
        t.tier == tier and t.granted_by_seq < event.seq and t.end_reason != "voided" for t in titles)
    candidates: list[Candidate] = []
    unearned: list[Unearned] = []

    def refuse(pack: PolicyPack, award: Award | None, reason: str) -> None:
        unearned.append(Unearned(event.seq, event.trigger, kind, event.effective_date, pack.id,
                                 award.id if award else None, reason))

    for pack in packs:
        if not pack.covers(region_code):
            continue
        awards = [award for award in pack.awards if award.achievement == achievement]
        if not awards:
            continue
        if not pack.in_force_on(event.effective_date):
            until = pack.in_force_until.isoformat() if pack.in_force_until else "—"
            refuse(pack, None, f"outside_window: {event.effective_date} 不在政策{pack.document_no}有效期"
                               f"（{pack.in_force_from}–{until}）内 — not within the pack's window")
            continue
        for award in awards:
            if award.first_only and earlier:
                refuse(pack, award, f"not_first: 非首次认定，{pack.document_no}只奖励首次认定 — not the firm's first "
                                    f"recognition of this tier; the award is for first-time recognition only")
            elif award.ratio is not None:
                funds = event.evidence.get(award.funds_field or "")
                if not isinstance(funds, int | float) or isinstance(funds, bool):
                    refuse(pack, award, f"funds_not_given: 授予记录缺少{award.funds_field} — the grant does not "
                                        f"state {award.funds_field}")
                else:
                    candidates.append(Candidate(pack, award, round(award.ratio * funds)))
            elif award.amount is None:
                refuse(pack, award, f"amount_not_set: {pack.document_no}未定金额，待官员录入 — the amount is "
                                    f"left to be entered (PUT /api/v1/policies/{pack.id}/awards/{award.id})")
            else:
                candidates.append(Candidate(pack, award, award.amount))
    return candidates, unearned


def split(amount: int, award: Award, firm_region: str) -> list[dict[str, Any]]:
    """Shares in whole yuan, summing to ``amount`` exactly; the remainder goes to the first payer."""
    if amount <= 0:
        return []
    shares = [amount * payer.percent // 100 for payer in award.payers]
    shares[0] += amount - sum(shares)
    return [{"region_code": firm_region if payer.region_code == FIRM_COUNTY else payer.region_code,
             "amount": share, "status": "entitled", "paid_on": None, "document_no": None}
            for payer, share in zip(award.payers, shares, strict=True)]


@cache
def earning_slots(achievement: str) -> tuple[str, ...]:
    """One ``LIKE`` pattern per (pack, award) that pays for ``achievement``, covering the pack's jurisdiction: a
    firm's region matching *n* of them may earn up to *n* entitlements. What the statement that locks a firm
    for a recognition reads the awards context for (none of it when no slot matches)."""
    return tuple(f"{region_prefix(pack.jurisdiction)}%" for pack in shipped_packs() for award in pack.awards
                 if award.achievement == achievement)


class Existing(Protocol):
    """An entitlement the firm already has, as stacking reads it (the ORM row has these attributes)."""

    @property
    def id(self) -> int: ...
    @property
    def achievement_seq(self) -> int | None: ...
    @property
    def policy_id(self) -> str: ...
    @property
    def award_id(self) -> str: ...
    @property
    def stacking_group(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def net_amount(self) -> int: ...


@dataclass(frozen=True)
class Owed:
    id: int
    achievement_seq: int | None
    policy_id: str
    award_id: str
    stacking_group: str
    status: str
    net_amount: int


OWED_FIELDS: tuple[str, ...] = ("id", "achievement_seq", "policy_id", "award_id", "stacking_group", "status",
                                "net_amount")


@dataclass
class Context:
    """What deriving reads from the database: the packs at their latest versions, the firm's entitlements, and
    entitlement ids drawn ahead (PostgreSQL's sequence, in the statement that locked the firm)."""

    packs: tuple[PolicyPack, ...]
    existing: list[Existing]
    ids: list[int] = field(default_factory=list)


ENTITLEMENT_COLUMNS: tuple[str, ...] = (
    "id", "enterprise_id", "uscc", "region_code", "policy_id", "policy_version", "policy_hash", "award_id",
    "stacking_group", "achievement_seq", "trigger", "side_title_kind", "effective_date", "gross_amount",
    "net_amount", "offsets", "superseded_by", "payers", "status", "manual", "basis", "evidence",
    "settled_outside_system", "last_seq", "created_at", "updated_at")


@dataclass
class NewEntitlement:
    """A derived entitlement's row, before it is written (the attributes of :class:`Entitlement`)."""

    id: int
    enterprise_id: int
    uscc: str
    region_code: str
    policy_id: str
    policy_version: int
    policy_hash: str
    award_id: str
    stacking_group: str
    achievement_seq: int | None
    trigger: str | None
    side_title_kind: str | None
    effective_date: dt.date
    gross_amount: int
    net_amount: int
    offsets: list[dict[str, Any]]
    superseded_by: int | None
    payers: list[dict[str, Any]]
    status: str
    manual: bool
    basis: str | None
    evidence: dict[str, Any]
    settled_outside_system: bool
    last_seq: int
    created_at: dt.datetime
    updated_at: dt.datetime

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ENTITLEMENT_COLUMNS}


_ENTITLEMENT_VALUES = attrgetter(*ENTITLEMENT_COLUMNS)
"""A :class:`NewEntitlement`'s values in :data:`ENTITLEMENT_COLUMNS`' order, as one tuple (one C call)."""


@dataclass(frozen=True)
class Derived:
    """An entitlement to write and its first (``create``) record's columns."""

    entitlement: NewEntitlement
    record: dict[str, Any]


ENTITLEMENTS = Base.metadata.tables[Entitlement.__tablename__]
RECORDS = Base.metadata.tables[EntitlementRecord.__tablename__]


def entitle(session: Session, firm: Firm, event: Achieved, titles: Iterable[Title], *, actor: str,
            settle: Settle = "owed", request_id: str | None = None) -> list[NewEntitlement]:
    """What a recorded event does to the ledger, in the caller's transaction."""
    if event.trigger == "revoke" and event.reason_code == FALSE_INFORMATION:
        claw_back(session, firm.uscc, actor=actor, reason=f"撤销（提供虚假信息），事件{event.seq} — revoked for "
                                                          f"false information (event {event.seq})",
                  request_id=request_id)
        return []
    if not may_earn(firm, event, settle):
        return []  # decided without a query: the transition path pays nothing for firms no pack covers
    derived = derive(firm, event, titles, read_context(session, firm.uscc), actor=actor, settle=settle,
                     request_id=request_id, allocate=lambda n: allocate_ids(session, n))
    write(session, derived)
    return [item.entitlement for item in derived]


def may_earn(firm: Firm, event: Achieved, settle: Settle) -> bool:
    """Whether ``event`` may earn the firm anything at all (no query): a recognition or a side title, in a region
    some pack covers, an achievement some pack pays for."""
    kind = side_title_kind(event)
    if settle == "none" or (event.trigger not in RECOGNITION_TIER and kind is None):
        return False
    return may_pay_here(firm.region_code) and earns_anywhere(kind or event.trigger or "")


def derive(firm: Firm, event: Achieved, titles: Iterable[Title], context: Context, *, actor: str,
           settle: Settle = "owed", request_id: str | None = None,
           allocate: Callable[[int], list[int]]) -> list[Derived]:
    """The entitlements ``event`` earns, stacked, with their ``create`` records — computed, not written (the
    transition path writes them in the statement that writes the event; :func:`write` otherwise)."""
    if not may_earn(firm, event, settle):
        return []
    candidates, _ = evaluate(context.packs, firm.region_code, event, titles)
    if not candidates:
        return []
    return _stack(firm, event, candidates, existing=context.existing, ids=context.ids, allocate=allocate,
                  actor=actor, settle=settle, request_id=request_id)


@cache
def _context_query() -> Select[Any]:
    """Built once: constructing it per recognition cost more than running it."""
    anchor = select(literal(1).label("anchor")).subquery()
    versions = latest_versions().subquery()
    return (select(versions.c.document, versions.c.version, *(getattr(Entitlement, name) for name in OWED_FIELDS))
            .select_from(anchor).outerjoin(versions, true())
            .outerjoin(Entitlement, Entitlement.uscc == bindparam("uscc")))


def read_context(session: Session, uscc: str) -> Context:
    """The packs at their latest versions and the firm's entitlements, in ONE statement (a one-row anchor
    outer-joined to both: versions × entitlements, a handful of rows)."""
    rows = session.execute(_context_query(), {"uscc": uscc}).all()
    owed = {row[2]: row[2:] for row in rows if row[2] is not None}
    return context_from(((row[0], row[1]) for row in rows), owed.values(), ())


def context_from(versions: Iterable[tuple[dict[str, Any] | None, int | None]], owed: Iterable[Sequence[Any]],
                 ids: Iterable[int]) -> Context:
    """A :class:`Context` from plain rows read elsewhere (the locking statement's JSON columns)."""
    existing: list[Existing] = sorted((Owed(*row) for row in owed), key=lambda e: e.id)
    return Context(packs_from(versions), existing, sorted(ids))


def allocate_ids(session: Session, count: int) -> list[int]:
    """``count`` new entitlement ids: from the sequence on PostgreSQL; past the largest on SQLite, whose writers
    are serialised (``BEGIN IMMEDIATE``), so no other transaction takes them meanwhile."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(select(func.nextval("award_entitlements_id_seq"))
                                    .select_from(func.generate_series(1, count))))
    top = session.scalar(select(func.coalesce(func.max(ENTITLEMENTS.c.id), 0))) or 0
    return list(range(top + 1, top + 1 + count))


def next_ids(connection: Any, count: int) -> list[int]:
    """:func:`allocate_ids` on PostgreSQL, drawn on the psycopg ``connection`` itself (:class:`IdPool`)."""
    return [value for (value,) in connection_rows(
        connection, "SELECT nextval('award_entitlements_id_seq') FROM generate_series(1, %s)", (count,))]


class IdPool:
    """New entitlement ids drawn in blocks, for a bulk derivation (``pipeline awards sync``, imports) that would
    otherwise spend a statement on each: the sequence on PostgreSQL (ids left unused are gaps, as after any
    rollback); on SQLite, past the largest, counted here (writers are serialised).

    ``connection``: the session's psycopg connection, to draw on directly (PostgreSQL) — for a sync whose
    writer thread uses the connection meanwhile: its lock lets a draw go between two of that thread's
    statements, where the session may not be shared between threads."""

    def __init__(self, session: Session, block: int = 1000, connection: Any = None) -> None:
        self.session = session
        self.block = block
        self.connection = connection
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.ids: list[int] = []
        self.next_id: int | None = None

    def take(self, count: int) -> list[int]:
        if not self.postgres:
            if self.next_id is None:
                self.next_id = allocate_ids(self.session, 1)[0]
            taken = list(range(self.next_id, self.next_id + count))
            self.next_id += count
            return taken
        if len(self.ids) < count:
            self.ids.extend(self._draw(max(count - len(self.ids), self.block)))
        taken, self.ids = self.ids[:count], self.ids[count:]
        return taken

    def _draw(self, count: int) -> list[int]:
        return allocate_ids(self.session, count) if self.connection is None else next_ids(self.connection, count)


def write(session: Session, derived: Sequence[Derived]) -> None:
    """Insert derived entitlements and their ``create`` records: two statements at most (``COPY`` on PostgreSQL,
    where a sync or an import writes tens of thousands; SQLAlchemy Core on SQLite)."""
    if not derived:
        return
    if session.get_bind().dialect.name == "postgresql":
        for batch in copy_batches(session, derived):
            batch.send()
    else:
        session.execute(insert(ENTITLEMENTS), [item.entitlement.columns() for item in derived])
        session.execute(insert(RECORDS), [item.record for item in derived])


def copy_batches(session: Session, derived: Sequence[Derived]) -> list[CopyBatch]:
    """:func:`write` on PostgreSQL, its two ``COPY`` formatted now, to be sent later (a bulk sync sends them on a
    second thread while it derives the next chunk)."""
    if not derived:
        return []
    record_columns = list(derived[0].record)
    entitlements = copy_values(session, ENTITLEMENTS, ENTITLEMENT_COLUMNS,
                               list(map(_ENTITLEMENT_VALUES, (item.entitlement for item in derived))))
    records = copy_values(session, RECORDS, record_columns,
                          list(map(itemgetter(*record_columns), (item.record for item in derived))))
    return [batch for batch in (entitlements, records) if batch is not None]


def _stack(firm: Firm, event: Achieved, candidates: list[Candidate], *, existing: Sequence[Existing],
           ids: list[int], allocate: Callable[[int], list[int]], actor: str, settle: Settle,
           request_id: str | None, basis: str | None = None,
           evidence: dict[str, Any] | None = None) -> list[Derived]:
    """Stack the candidates into entitlements (从高、不重复). ``basis`` makes it a manual entitlement (no event:
    ``seq`` is ``None``), which every live entitlement of its group offsets and which is never "derived
    already". Ids come from ``ids`` first, then ``allocate``."""
    assert firm.id is not None
    manual = basis is not None
    done = {(e.achievement_seq, e.policy_id, e.award_id) for e in existing}
    groups: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.pack.stacking_group, []).append(candidate)
    chosen: list[tuple[str, int, Candidate]] = []  # (group, rank, candidate) still to write
    for group, members in groups.items():
        members.sort(key=lambda c: (-c.gross, c.pack.id, c.award.id))
        chosen.extend((group, rank, candidate) for rank, candidate in enumerate(members)
                      if manual or (event.seq, candidate.pack.id, candidate.award.id) not in done)
    if not chosen:
        return []
    ids = ids[:len(chosen)] + allocate(len(chosen) - len(ids)) if len(ids) < len(chosen) else ids[:len(chosen)]
    kind = side_title_kind(event)
    now = utc_now()
    derived: list[Derived] = []
    winners: dict[str, int] = {}
    for (group, rank, candidate), new_id in zip(chosen, ids, strict=True):
        owed_before = [e for e in existing if e.stacking_group == group and e.status in LIVE and e.net_amount > 0
                       and (manual or e.achievement_seq != event.seq)]
        offsets: list[dict[str, Any]] = []
        net = candidate.gross
        if rank > 0:
            net = 0
        elif candidate.pack.mode == "top_up" and owed_before:
            offsets = [{"entitlement_id": e.id, "amount": e.net_amount,
                        "reason": f"从高、不重复：{group}组已应享 — already owed in stacking group {group} "
                                  f"({e.policy_id}/{e.award_id})"} for e in owed_before]
            net = max(0, candidate.gross - sum(e.net_amount for e in owed_before))
        payers = split(net, candidate.award, firm.region_code)
        settled = settle == "settled" and net > 0
        if settled:
            for share in payers:
                share["status"] = "paid"
        entitlement = NewEntitlement(
            id=new_id, enterprise_id=firm.id, uscc=firm.uscc, region_code=firm.region_code,
            policy_id=candidate.pack.id, policy_version=candidate.pack.version,
            policy_hash=candidate.pack.content_hash, award_id=candidate.award.id, stacking_group=group,
            achievement_seq=None if manual else event.seq, trigger=None if kind else event.trigger,
            side_title_kind=kind, effective_date=event.effective_date, gross_amount=candidate.gross, net_amount=net,
            offsets=offsets, superseded_by=winners.get(group) if rank > 0 else None, payers=payers,
            status="paid" if settled else "entitled", manual=manual, basis=basis, evidence=dict(evidence or {}),
            settled_outside_system=settled, last_seq=1, created_at=now, updated_at=now)
        if rank == 0:
            winners[group] = new_id
        derived.append(Derived(entitlement, ledger.creation_record(entitlement, actor=actor, request_id=request_id,
                                                                   now=now)))
    return derived


def status_of(shares: list[dict[str, Any]], default: str) -> str:
    """The entitlement's status from its shares': one status when they agree; ``clawback_due`` while any share
    is; ``paid`` when every live share is paid, ``partially_paid`` while some are; ``approved`` once no share
    waits for approval."""
    states = {share["status"] for share in shares}
    if not states:
        return default
    if len(states) == 1:
        return str(next(iter(states)))
    if "clawback_due" in states:
        return "clawback_due"
    live = states - {"cancelled", "settled"}
    if not live:
        return "settled" if "settled" in states else "cancelled"
    if "paid" in live:
        return "paid" if live == {"paid"} else "partially_paid"
    return "entitled" if "entitled" in live else "approved"


def on_voided(session: Session, uscc: str, seq: int, *, actor: str, request_id: str | None = None) -> None:
    """The event ``seq`` was voided: its entitlements' unpaid shares are cancelled, paid shares fall due for
    clawback (追回)."""
    for entitlement in session.scalars(select(Entitlement).where(Entitlement.uscc == uscc,
                                                                 Entitlement.achievement_seq == seq)
                                       .order_by(Entitlement.id).with_for_update()):  # vs. approve/pay
        if entitlement.status in ("cancelled", "clawback_due", "settled"):
            continue
        shares = [dict(share) for share in entitlement.payers]
        for share in shares:
            share["status"] = "clawback_due" if share["status"] == "paid" else "cancelled"
        entitlement.payers = shares
        entitlement.status = status_of(shares, "cancelled")
        ledger.append(session, entitlement, "void", actor=actor, request_id=request_id,
                      reason=f"认定事件{seq}已作废 — the recognition (event {seq}) was voided")
    session.flush()


def claw_back(session: Session, uscc: str, *, actor: str, reason: str, request_id: str | None = None) -> None:
    """Every paid share of the firm becomes ``clawback_due`` (a revoke for false information)."""
    for entitlement in session.scalars(select(Entitlement).where(Entitlement.uscc == uscc)
                                       .order_by(Entitlement.id).with_for_update()):  # vs. approve/pay
        shares = [dict(share) for share in entitlement.payers]
        if not any(share["status"] == "paid" for share in shares):
            continue
        for share in shares:
            if share["status"] == "paid":
                share["status"] = "clawback_due"
        entitlement.payers = shares
        entitlement.status = status_of(shares, entitlement.status)
        ledger.append(session, entitlement, "clawback", actor=actor, reason=reason, request_id=request_id)
    session.flush()


@dataclass
class ManualAchievement:
    """What a manual entitlement stands on instead of an event (``seq`` 0: no event of the firm's chain)."""

    trigger: str | None
    effective_date: dt.date
    evidence: dict[str, Any]
    seq: int = 0
    reason_code: str | None = None


def manual_entitlement(session: Session, firm: Firm, pack: PolicyPack, award: Award, *, effective_date: dt.date,
                       basis: str, evidence: dict[str, Any], actor: str,
                       request_id: str | None = None) -> Entitlement:
    """An entitlement an official enters for a clause that needs judgment (郑政办〔2022〕36号: a firm moving in
    with a 省级-or-higher title is paid "参照新认定补贴标准"), stacked like every other: in ``top_up`` mode it is
    owed only the difference from what its group already owes the firm. The pack must cover the firm and be in
    force on ``effective_date``; first-time rules are the official's judgment, not checked."""
    if not pack.covers(firm.region_code):
        raise InvalidInput(f"政策包{pack.id}（{pack.jurisdiction}）不覆盖企业所在区划{firm.region_code} — pack "
                           f"{pack.id} does not cover the firm's region {firm.region_code}", field="policy_id")
    if effective_date > business_today():
        raise InvalidInput(f"{effective_date}晚于今天 — effective_date is in the future", field="effective_date")
    if not pack.in_force_on(effective_date):
        until = pack.in_force_until.isoformat() if pack.in_force_until else "—"
        raise InvalidInput(f"{effective_date}不在政策{pack.document_no}有效期（{pack.in_force_from}–{until}）内 — "
                           f"effective_date is outside the pack's window", field="effective_date")
    if award.ratio is not None:
        funds = evidence.get(award.funds_field or "")
        if not isinstance(funds, int) or isinstance(funds, bool) or funds < 0:
            raise InvalidInput(f"配套奖励须在 evidence 中给出整数{award.funds_field} — a matching award needs "
                               f"evidence.{award.funds_field} (integer yuan)", field="evidence")
        gross = round(award.ratio * funds)
    elif award.amount is None:
        raise InvalidInput(f"{pack.document_no}未定金额，请先录入 — the award's amount is not set yet (PUT "
                           f"/api/v1/policies/{pack.id}/awards/{award.id})", field="award_id")
    else:
        gross = award.amount
    if award.side_title_kind:
        achieved = ManualAchievement("grant_side_title", effective_date, {"kind": award.side_title_kind})
    else:
        achieved = ManualAchievement(award.trigger or "", effective_date, {})
    existing = list(session.scalars(select(Entitlement).where(Entitlement.uscc == firm.uscc)
                                    .order_by(Entitlement.id)))
    (derived,) = _stack(firm, achieved, [Candidate(pack, award, gross)], existing=existing, ids=[],
                        allocate=lambda n: allocate_ids(session, n), actor=actor, settle="owed",
                        request_id=request_id, basis=basis, evidence=evidence)
    write(session, [derived])
    return session.get_one(Entitlement, derived.entitlement.id)
