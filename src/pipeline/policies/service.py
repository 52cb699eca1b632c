"""Policy packs in the database: the versions officials made on top of the shipped files, and making one.

Reading the packs in force costs one small query (the latest stored version of each pack that has one); a
pack nobody changed is the shipped file, version 1.
政策包版本：官员补录金额或设定失效日期即生成新版本，留痕可审计。
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.dates import business_today, utc_now
from pipeline.errors import Forbidden, InvalidInput, NotFound
from pipeline.models import PolicyVersion
from pipeline.policies import PolicyPack, pack_from_document, shipped_packs, stored_pack
from pipeline.rulebooks import rulebook_in_force

EDIT_ACTION = "edit_policy"
_VERSIONS = PolicyVersion.__table__


def latest_versions(known_at: dt.datetime | None = None) -> Select[tuple[dict[str, Any], int]]:
    """``(document, version)`` of the latest stored version of every pack that has one (as stored by
    ``known_at``, when given)."""
    # the table's columns, not the mapped class's: a statement embedding this one stays a Core statement (the
    # transition path's locking read does), which SQLAlchemy runs without its ORM result machinery
    v = _VERSIONS.c
    versions_known = select(v.policy_id, func.max(v.version).label("version"))
    if known_at is not None:
        versions_known = versions_known.where(v.recorded_at <= known_at)
    latest = versions_known.group_by(v.policy_id).subquery()
    return select(v.document, v.version).join(
        latest, (latest.c.policy_id == v.policy_id) & (latest.c.version == v.version))


def packs_from(rows: Iterable[tuple[dict[str, Any] | None, int | None]]) -> tuple[PolicyPack, ...]:
    """Every pack at its latest version, from the rows of :func:`latest_versions` (``None`` rows skipped)."""
    stored = {pack.id: pack for pack in (stored_pack(document, version) for document, version in rows
                                         if document is not None and version is not None)}
    return tuple(stored.get(pack.id, pack) for pack in shipped_packs())


def current_packs(session: Session, *, known_at: dt.datetime | None = None) -> tuple[PolicyPack, ...]:
    """Every pack at its latest version (as stored by ``known_at``, when given)."""
    return packs_from((row[0], row[1]) for row in session.execute(latest_versions(known_at)))


def get_pack(session: Session, policy_id: str) -> PolicyPack:
    for pack in current_packs(session):
        if pack.id == policy_id:
            return pack
    known = ", ".join(pack.id for pack in shipped_packs())
    raise NotFound(f"未找到政策包{policy_id} — no policy pack {policy_id!r}; packs: {known}")


def versions(session: Session, policy_id: str) -> list[PolicyVersion]:
    get_pack(session, policy_id)
    return list(session.scalars(select(PolicyVersion).where(PolicyVersion.policy_id == policy_id)
                                .order_by(PolicyVersion.version)))


def check_may_edit(actor: Actor, pack: PolicyPack) -> None:
    """A province official, or an official of the pack's own level whose jurisdiction covers the pack's."""
    require_permission(rulebook_in_force(business_today()), actor, EDIT_ACTION)
    if actor.role == "admin":
        return
    if actor.role == "official" and actor.covers(pack.jurisdiction) and actor.level in ("province", pack.level):
        return
    raise Forbidden(f"只有省级或{pack.level}级（{pack.jurisdiction}）官员可修改政策包{pack.id} — only a province "
                    f"official or a {pack.level} official of {pack.jurisdiction} may change pack {pack.id}",
                    rule="policy_level", action=EDIT_ACTION)


def _new_version(session: Session, pack: PolicyPack, document: dict[str, Any], change: dict[str, Any],
                 actor: Actor, request_id: str | None) -> PolicyPack:
    new = pack_from_document(document, pack.version + 1)  # validates before anything is written
    session.add(PolicyVersion(
        policy_id=pack.id, version=new.version, document=document, content_hash=new.content_hash,
        previous_hash=pack.content_hash, change=change, actor=actor.id, recorded_at=utc_now(),
        request_id=request_id))
    session.flush()
    return new


def set_award_amount(session: Session, policy_id: str, award_id: str, amount: int, *, actor: Actor,
                     request_id: str | None = None) -> PolicyPack:
    pack = get_pack(session, policy_id)
    check_may_edit(actor, pack)
    award = pack.award(award_id)
    if award is None:
        raise NotFound(f"政策包{policy_id}没有奖励{award_id} — pack {policy_id} has no award {award_id!r}; awards: "
                       f"{', '.join(a.id for a in pack.awards)}")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidInput("金额应为非负整数（元） — amount must be a non-negative integer in yuan", field="amount")
    if award.ratio is not None:
        raise InvalidInput(f"奖励{award_id}为配套比例，无固定金额 — award {award_id} is a matching ratio, "
                           f"not an amount", field="amount")
    document = {**pack.document, "awards": [
        {**item, "amount": amount} if item["id"] == award_id else dict(item) for item in pack.document["awards"]]}
    return _new_version(session, pack, document,
                        {"award_id": award_id, "amount": {"from": award.amount, "to": amount}}, actor, request_id)


def set_in_force_until(session: Session, policy_id: str, until: dt.date | None, *, actor: Actor,
                       request_id: str | None = None) -> PolicyPack:
    pack = get_pack(session, policy_id)
    check_may_edit(actor, pack)
    if until is not None and until < pack.in_force_from:
        raise InvalidInput(f"失效日期早于生效日期{pack.in_force_from} — in_force_until is before in_force_from "
                           f"{pack.in_force_from}", field="in_force_until")
    document = {key: value for key, value in pack.document.items() if key != "in_force_until"}
    if until is not None:
        document["in_force_until"] = until.isoformat()
    before = pack.in_force_until.isoformat() if pack.in_force_until else None
    return _new_version(session, pack, document,
                        {"in_force_until": {"from": before, "to": until.isoformat() if until else None}},
                        actor, request_id)
