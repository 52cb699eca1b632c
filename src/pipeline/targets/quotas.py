"""Recommendation quotas (推荐名额): a region's base quota per child region plus the bonus the child's
completion rate earns ("对目标完成率高的区县（市）…适当增加推荐名额", 郑工信企业〔2025〕4号).

``{base: {child: n}, bonus: [{min_completion, extra}], based_on: {tier, kind}}`` per region, year and tier; a
child's quota = base + the ``extra`` of the highest threshold its completion of its own ``based_on`` target
reaches (no target of its own, or a zero target: no bonus). Every version goes on the ``quotas`` chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.dates import BUSINESS_TZ, business_today, utc_now
from pipeline.errors import Conflict, InvalidInput, NotFound
from pipeline.history import ledger
from pipeline.identifiers import child_regions, region_covers, region_name, validate_region
from pipeline.models import Quota
from pipeline.rulebooks import TITLE_TIERS
from pipeline.targets import service as targets
from pipeline.targets.counting import Population

CHAIN: Final = "quotas"


def chain_key(region: str, year: int, tier: str) -> str:
    return f"{region}/{year}/{tier}"


def check_tier(tier: str) -> str:
    if tier not in TITLE_TIERS:
        raise InvalidInput(f"名额按梯度设定 — quotas are per tier: {', '.join(TITLE_TIERS)}; got {tier!r}",
                           field="tier")
    return tier


def view(quota: Quota) -> dict[str, Any]:
    return {"region_code": quota.region_code, "year": quota.year, "tier": quota.tier, "version": quota.version,
            "base": quota.base, "bonus": quota.bonus, "based_on": quota.based_on, "updated_by": quota.updated_by}


def _checked(region: str, base: Mapping[str, Any], bonus: Sequence[Mapping[str, Any]],
             based_on: Mapping[str, Any] | None) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, Any] | None]:
    children = set(child_regions(region))
    checked_base: dict[str, int] = {}
    for child, n in base.items():
        if child not in children:
            raise InvalidInput(f"{child}不是{region}的下级区划 — {child} is not a child region of {region}",
                               field=f"base.{child}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInput(f"名额应为非负整数 — base.{child} must be a whole number ≥ 0", field=f"base.{child}")
        checked_base[child] = n
    checked_bonus = []
    for index, step in enumerate(bonus):
        low, extra = step.get("min_completion"), step.get("extra")
        if isinstance(low, bool) or not isinstance(low, int | float) or low < 0 or isinstance(extra, bool) or (
                not isinstance(extra, int) or extra < 0):
            raise InvalidInput(f"奖励名额应为 {{min_completion ≥ 0, extra ≥ 0 整数}} — bonus[{index}] needs "
                               f"min_completion ≥ 0 (a fraction: 1.0 = target met) and a whole extra ≥ 0",
                               field=f"bonus[{index}]")
        checked_bonus.append({"min_completion": low, "extra": extra})
    if checked_bonus and not based_on:
        raise InvalidInput("奖励名额须指明依据的目标 — a bonus needs based_on: {tier, kind}", field="based_on")
    checked_on = None
    if based_on:
        kind = str(based_on.get("kind") or "")
        if kind not in targets.KINDS:
            raise InvalidInput(f"based_on.kind 应为 {', '.join(targets.KINDS)}", field="based_on.kind")
        checked_on = {"tier": targets.check_tiers(based_on.get("tier") or [], field="based_on.tier"), "kind": kind}
    return checked_base, sorted(checked_bonus, key=lambda s: s["min_completion"]), checked_on


def put_quota(session: Session, region: str, year: int, tier: str, *, base: Mapping[str, Any],
              bonus: Sequence[Mapping[str, Any]], based_on: Mapping[str, Any] | None, actor: Actor,
              reason: str | None = None, request_id: str | None = None) -> Quota:
    region = validate_region(region, field="region")
    targets.check_year(year)
    check_tier(tier)
    targets.require_region_official(actor, region, "set_quotas")
    checked_base, checked_bonus, checked_on = _checked(region, base, bonus, based_on)
    now = utc_now()
    quota = session.scalars(select(Quota).where(Quota.region_code == region, Quota.year == year, Quota.tier == tier)
                            .with_for_update()).one_or_none()
    if quota is None:
        quota = Quota(region_code=region, year=year, tier=tier, version=1, base=checked_base, bonus=checked_bonus,
                      based_on=checked_on, updated_at=now, updated_by=actor.id)
        try:
            with session.begin_nested():
                session.add(quota)
                session.flush()
        except IntegrityError:
            raise Conflict(f"名额正被同时设定 — quotas of {region}/{year}/{tier} were set at once; retry") from None
    else:
        quota.version += 1
        quota.base, quota.bonus, quota.based_on = checked_base, checked_bonus, checked_on
        quota.updated_at, quota.updated_by = now, actor.id
        session.flush()
    ledger.append(session, CHAIN, chain_key(region, year, tier), "set" if quota.version == 1 else "revise",
                  view(quota), actor=actor.id, reason=reason, request_id=request_id, now=now)
    return quota


@dataclass(frozen=True)
class ChildQuota:
    region_code: str
    region_name: str
    tier: str
    base: int
    completion: float | None
    bonus: int
    quota: int

    def as_dict(self) -> dict[str, Any]:
        return {"region_code": self.region_code, "region_name": self.region_name, "tier": self.tier,
                "base": self.base, "completion": self.completion, "bonus": self.bonus, "quota": self.quota}


def earned_bonus(bonus: Sequence[Mapping[str, Any]], completion: float | None) -> int:
    """The ``extra`` of the highest threshold ``completion`` reaches (0 if none, or no completion)."""
    if completion is None:
        return 0
    reached = [step for step in bonus if completion >= float(step["min_completion"])]
    return int(max(reached, key=lambda s: float(s["min_completion"]))["extra"]) if reached else 0


def child_quotas(session: Session, quota: Quota, *, population: Population | None = None,
                 today: dt.date | None = None, known_at: dt.datetime | None = None,
                 only: str | None = None) -> list[ChildQuota]:
    """Each child's quota (or ``only`` that child's), with the completion of its own ``based_on`` target that
    set the bonus (targets and events as recorded by ``known_at``)."""
    children = sorted(quota.base) if only is None else [only]
    completion: dict[str, float | None] = {}
    if quota.based_on:
        wanted = (targets.tier_key(quota.based_on["tier"]), quota.based_on["kind"])
        own = targets.targets_of(session, children, quota.year, known_at)
        if own and population is None:  # one child (a recommendation) reads that child's firms only
            population = Population(session, quota.region_code if only is None else only, known_at=known_at)
        on = targets.count_date(quota.year, today or (known_at.astimezone(BUSINESS_TZ).date() if known_at
                                                      else business_today()))
        for child, items in own.items():
            item = next((i for i in items if (targets.tier_key(i["tier"]), i["kind"]) == wanted), None)
            if item is not None and population is not None:
                completion[child] = targets.measure(population, child, item, quota.year, on, own=True).completion
    found = []
    for child in children:
        base = int(quota.base.get(child, 0))
        extra = earned_bonus(quota.bonus, completion.get(child))
        found.append(ChildQuota(child, region_name(child) or child, quota.tier, base, completion.get(child), extra,
                                base + extra))
    return found


def quotas(session: Session, actor: Actor, *, region: str, year: int, tier: str | None = None,
           population: Population | None = None, known_at: dt.datetime | None = None,
           ) -> list[tuple[Quota, list[ChildQuota]]]:
    """The region's quotas for the year (one tier, or every tier), each with its children's quotas."""
    region = validate_region(region, field="region")
    if not actor.covers(region):
        raise NotFound(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction")
    query = select(Quota).where(Quota.region_code == region, Quota.year == year).order_by(Quota.tier)
    if tier is not None:
        query = query.where(Quota.tier == check_tier(tier))
    return [(quota, child_quotas(session, quota, population=population, known_at=known_at))
            for quota in session.scalars(query)]


def applicable(session: Session, year: int, tier: str, firm_region: str, *,
               lock: bool = False) -> list[tuple[Quota, str]]:
    """The quotas (and the child key in each) that a firm in ``firm_region`` is recommended within."""
    query = select(Quota).where(Quota.year == year, Quota.tier == tier).order_by(Quota.id)
    if lock:
        query = query.with_for_update()
    found = []
    for quota in session.scalars(query):
        child = next((c for c in quota.base if region_covers(c, firm_region)), None)
        if child is not None:
            found.append((quota, child))
    return found
