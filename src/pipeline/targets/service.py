"""A region's yearly targets (培育目标): set (versioned, each version on the ``targets`` chain) and measured.

An item is ``{tier, kind, value, baseline_date?, document_no}``: ``tier`` a tier or side-title kind, or a list
of them (distinct firms holding any: "专精特新" = provincial + national); ``kind`` ``new``, ``total`` or
``growth`` (:mod:`pipeline.targets.counting`). Progress lists the region and each child region (GB/T 2260:
a province's cities with 济源, a city's districts and counties); a child without targets of its own is
listed with the parent's items and ``target: null``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.dates import BUSINESS_TZ, business_today, utc_now
from pipeline.errors import Conflict, Forbidden, InvalidInput, NotFound
from pipeline.history import ledger
from pipeline.identifiers import child_regions, region_name, validate_region
from pipeline.models import ChainRecord, Target
from pipeline.rulebooks import TITLE_TIERS, rulebook_in_force
from pipeline.targets.counting import Population
from pipeline.titles.roster import side_title_kinds

CHAIN: Final = "targets"
KINDS: Final = ("new", "total", "growth")
MIN_YEAR, MAX_YEAR = 2000, 2100


def chain_key(region: str, year: int) -> str:
    return f"{region}/{year}"


def check_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"年份应在{MIN_YEAR}–{MAX_YEAR}之间 — year must be {MIN_YEAR}–{MAX_YEAR}, got {year}",
                           field="year")
    return year


def tiers_of(tier: str | Sequence[str]) -> tuple[str, ...]:
    return (tier,) if isinstance(tier, str) else tuple(tier)


def check_tiers(tier: str | Sequence[str], *, field: str = "tier") -> str | list[str]:
    """A tier, a side-title kind, or a non-empty list of them without repeats."""
    names = tiers_of(tier)
    known = (*TITLE_TIERS, *side_title_kinds())
    unknown = [name for name in names if name not in known]
    if not names or unknown or len(set(names)) != len(names):
        raise InvalidInput(f"未知或重复的称号 — unknown or repeated tier {', '.join(unknown) or names!r}; tiers: "
                           f"{', '.join(known)}", field=field)
    return tier if isinstance(tier, str) else list(names)


def tier_key(tier: str | Sequence[str]) -> str:
    """One name for a tier or a list of tiers: ``provincial+national``."""
    return "+".join(tiers_of(tier))


def normalized_items(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The items as stored and chained, checked: known tiers and kinds, positive values, a baseline for growth,
    a document number, each (tier, kind) once."""
    result: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        where = f"items[{index}]"
        tier = check_tiers(item.get("tier") or [], field=f"{where}.tier")
        kind = str(item.get("kind") or "")
        if kind not in KINDS:
            raise InvalidInput(f"目标类型应为 new、total 或 growth — {where}.kind must be one of {', '.join(KINDS)}",
                               field=f"{where}.kind")
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or (
                kind != "growth" and not float(value).is_integer()):
            raise InvalidInput(f"目标值应为正数（new/total 为整数） — {where}.value must be a positive number "
                               f"(a whole number for new and total)", field=f"{where}.value")
        baseline = item.get("baseline_date")
        if kind == "growth" and baseline is None:
            raise InvalidInput(f"增长目标须给出基期日期 — {where}: a growth target needs baseline_date",
                               field=f"{where}.baseline_date")
        if kind != "growth" and baseline is not None:
            raise InvalidInput(f"只有增长目标有基期 — {where}: baseline_date belongs to growth targets only",
                               field=f"{where}.baseline_date")
        document_no = str(item.get("document_no") or "").strip()
        if not document_no:
            raise InvalidInput(f"须注明文号 — {where}.document_no: the document that sets the target",
                               field=f"{where}.document_no")
        key = (tier_key(tier), kind)
        if key in seen:
            raise InvalidInput(f"同一称号与类型只能有一个目标 — {where}: a second {kind} target for {key[0]}",
                               field=f"{where}.tier")
        seen.add(key)
        stored: dict[str, Any] = {"tier": tier, "kind": kind,
                                  "value": int(value) if kind != "growth" else value, "document_no": document_no}
        if baseline is not None:
            stored["baseline_date"] = baseline.isoformat() if isinstance(baseline, dt.date) else str(
                dt.date.fromisoformat(str(baseline)))
        result.append(stored)
    return result


def view(target: Target) -> dict[str, Any]:
    """The full record, as returned and as chained."""
    return {"region_code": target.region_code, "year": target.year, "version": target.version,
            "items": target.items, "updated_by": target.updated_by}


def require_region_official(actor: Actor, region: str, action: str) -> None:
    require_permission(rulebook_in_force(business_today()), actor, action)
    if not actor.covers(region):
        raise Forbidden(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction "
                        f"({actor.region_code})", rule="jurisdiction", action=action)


def put_targets(session: Session, region: str, year: int, items: Sequence[Mapping[str, Any]], *, actor: Actor,
                reason: str | None = None, request_id: str | None = None) -> Target:
    """Replace a region's items for a year (a new version; the chain keeps every earlier one)."""
    region = validate_region(region, field="region")
    check_year(year)
    require_region_official(actor, region, "set_targets")
    stored = normalized_items(items)
    now = utc_now()
    target = session.scalars(select(Target).where(Target.region_code == region, Target.year == year)
                             .with_for_update()).one_or_none()
    if target is None:
        target = Target(region_code=region, year=year, version=1, items=stored, updated_at=now, updated_by=actor.id)
        try:
            with session.begin_nested():
                session.add(target)
                session.flush()
        except IntegrityError:
            raise Conflict(f"目标正被同时设定 — targets of {region}/{year} were set concurrently; retry") from None
    else:
        target.version += 1
        target.items, target.updated_at, target.updated_by = stored, now, actor.id
        session.flush()
    ledger.append(session, CHAIN, chain_key(region, year), "set" if target.version == 1 else "revise", view(target),
                  actor=actor.id, reason=reason, request_id=request_id, now=now)
    return target


def get_targets(session: Session, region: str, year: int, actor: Actor, *,
                version: int | None = None) -> dict[str, Any]:
    """The current version of a region-year's targets, or an earlier one from its chain."""
    region = validate_region(region, field="region")
    missing = NotFound(f"{region}没有{year}年目标{'' if version is None else f'第{version}版'} — no targets for "
                       f"{region}/{year}{'' if version is None else f' version {version}'}")
    if not actor.covers(region):
        raise missing
    records = ledger.records(session, CHAIN, chain_key(region, year))
    if not records:
        raise missing
    chosen = records[-1] if version is None else next(
        (r for r in records if r.details.get("version") == version), None)
    if chosen is None:
        raise missing
    return {**chosen.details, "updated_at": chosen.recorded_at, "versions": len(records)}


def targets_of(session: Session, regions: Sequence[str], year: int,
               known_at: dt.datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """region → its items for the year (as recorded by ``known_at``: the chain's version then)."""
    if known_at is None:
        rows = session.scalars(select(Target).where(Target.region_code.in_(regions), Target.year == year))
        return {row.region_code: list(row.items) for row in rows}
    keys = {chain_key(region, year): region for region in regions}
    found: dict[str, list[dict[str, Any]]] = {}
    for record in session.scalars(select(ChainRecord).where(
            ChainRecord.chain == CHAIN, ChainRecord.key.in_(keys), ChainRecord.recorded_at <= known_at)
            .order_by(ChainRecord.key, ChainRecord.seq)):
        found[keys[record.key]] = list(record.details["items"])
    return found


# --- progress -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One target of one region measured: the items of ``GET /targets/progress``."""

    region_code: str
    region_name: str
    tier: str | list[str]
    kind: str
    target: int | float | None
    actual: int
    completion: float | None
    remaining: int | float | None

    def as_dict(self) -> dict[str, Any]:
        return {"region_code": self.region_code, "region_name": self.region_name, "tier": self.tier,
                "kind": self.kind, "target": self.target, "actual": self.actual, "completion": self.completion,
                "remaining": self.remaining}


def count_date(year: int, today: dt.date) -> dt.date:
    """31 December of the year, or today while the year runs."""
    return min(dt.date(year, 12, 31), today)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def measure(population: Population, region: str, item: Mapping[str, Any], year: int, on: dt.date, *,
            own: bool) -> Measure:
    """One item measured for one region; ``own=False`` (a parent's item shown for a child): no target."""
    tiers, kind = tiers_of(item["tier"]), str(item["kind"])
    if kind == "new":
        actual = population.new(tiers, dt.date(year, 1, 1), on, region)
    else:
        actual = population.total(tiers, on, region)
    target: int | float | None = None
    if own:
        if kind == "growth":
            baseline = population.total(tiers, dt.date.fromisoformat(str(item["baseline_date"])), region)
            target = _number(float(item["value"]) * baseline)
        else:
            target = int(item["value"])
    completion = None if not target else actual / target
    remaining = None if target is None else _number(max(target - actual, 0))
    return Measure(region, region_name(region) or region, item["tier"], kind, target, actual, completion, remaining)


@dataclass
class Progress:
    year: int
    region_code: str
    as_of: dt.date
    known_at: dt.datetime | None
    items: list[Measure]
    population: Population

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "region_code": self.region_code, "as_of": self.as_of.isoformat(),
                "known_at": self.known_at, "items": [m.as_dict() for m in self.items]}


def progress(session: Session, actor: Actor, *, year: int, region: str, known_at: dt.datetime | None = None,
             today: dt.date | None = None) -> Progress:
    """Every target of the region and of each child region, measured from the events (as recorded by
    ``known_at``)."""
    region = validate_region(region, field="region")
    check_year(year)
    if not actor.covers(region):
        raise NotFound(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction")
    # as recorded by known_at, "today" is the day it was then
    on = count_date(year, today or (known_at.astimezone(BUSINESS_TZ).date() if known_at else business_today()))
    children = child_regions(region)
    own = targets_of(session, [region, *children], year, known_at)
    population = Population(session, region, known_at=known_at)
    parent_items = own.get(region, [])
    measures = [measure(population, region, item, year, on, own=True) for item in parent_items]
    for child in children:
        child_items = own.get(child)
        for item in child_items if child_items is not None else parent_items:
            measures.append(measure(population, child, item, year, on, own=child_items is not None))
    return Progress(year, region, on, known_at, measures, population)
