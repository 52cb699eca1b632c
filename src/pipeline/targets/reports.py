"""The reports officials are judged by: applications per child region (the 靶向培育 list of lost points) and the
monthly progress notice (通报) — one table per tier ranked by that tier's ``new`` completion, with totals, and
the quotas and application figures per child region. The workbook (:mod:`pipeline.targets.workbook`) writes
exactly this JSON.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.errors import NotFound
from pipeline.identifiers import child_regions, region_covers, region_name, region_prefix, validate_region
from pipeline.models import Application, ApplicationRound, Enterprise
from pipeline.rulebooks import TITLE_TIERS, rulebook_in_force
from pipeline.targets import quotas as quota_rules
from pipeline.targets import rounds, service
from pipeline.targets.service import Measure

RANK_KIND: Final = "new"
KIND_ORDER: Final = ("new", "total", "growth")


def _scope(actor: Actor, region: str) -> str:
    region = validate_region(region, field="region")
    if not actor.covers(region):
        raise NotFound(f"区划{region}不在您的辖区内 — region {region} is outside your jurisdiction")
    return region


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _application_rows(session: Session, year: int, region: str) -> list[Any]:
    return list(session.execute(
        select(Application, ApplicationRound.tier, Enterprise.name)
        .join(ApplicationRound, ApplicationRound.id == Application.round_id)
        .join(Enterprise, Enterprise.id == Application.enterprise_id)
        .where(ApplicationRound.year == year, Application.region_code.startswith(region_prefix(region)))
        .order_by(Application.id)))


def _figures(rows: list[Any]) -> dict[str, Any]:
    live = [row for row in rows if row[0].status != rounds.WITHDRAWN]
    applied = len(live)
    recommended = sum(1 for row in live if row[0].status in rounds.WAS_RECOMMENDED)
    approved = sum(1 for row in live if row[0].status == rounds.APPROVED)
    return {"applied": applied, "recommended": recommended, "approved": approved,
            "conversion_rate": _rate(approved, applied)}


def applications_report(session: Session, actor: Actor, *, year: int, region: str) -> dict[str, Any]:
    """Per child region: applied, recommended, approved, conversion rate (approved ÷ applied), lost points by
    criterion, and the firms that lost points with a link to their eligibility screening."""
    region = _scope(actor, region)
    service.check_year(year)
    rows = _application_rows(session, year, region)
    labels = rulebook_in_force(dt.date(year, 12, 31)).sections.get("eligibility", {}).get("indicators", {})

    def block(code: str, mine: list[Any]) -> dict[str, Any]:
        lost: dict[str, dict[str, Any]] = {}
        firms = []
        for app, tier, name in mine:
            for item in app.lost_points:
                entry = lost.setdefault(item["criterion"], {
                    "criterion": item["criterion"], "label": str(labels.get(item["criterion"], {}).get("label", "")),
                    "points": 0, "applications": 0})
                entry["points"] += item["points"]
                entry["applications"] += 1
            if app.lost_points:
                firms.append({"application_id": app.id, "uscc": app.uscc, "name": name, "tier": tier,
                              "status": app.status, "lost_points": app.lost_points,
                              "eligibility": rounds.eligibility_link(app.uscc, tier)})
        ranked = sorted(lost.values(), key=lambda e: (-e["points"], e["criterion"]))
        return {"region_code": code, "region_name": region_name(code) or code, **_figures(mine),
                "lost_points": ranked, "firms": firms}

    items = [block(child, [row for row in rows if region_covers(child, row[0].region_code)])
             for child in child_regions(region)]
    return {"year": year, "region_code": region, "region_name": region_name(region) or region,
            "total": block(region, rows), "items": items}


# --- the 通报 ----------------------------------------------------------------------------------------------------


def _measure_out(m: Measure) -> dict[str, Any]:
    return {"target": m.target, "actual": m.actual, "completion": m.completion, "remaining": m.remaining}


def tier_label(tier: str | list[str], on: dt.date) -> str:
    book = rulebook_in_force(on)
    return "+".join(book.label(name) for name in service.tiers_of(tier))


def progress_report(session: Session, actor: Actor, *, year: int, region: str,
                    known_at: dt.datetime | None = None, today: dt.date | None = None) -> dict[str, Any]:
    """The 通报 as JSON: ``sheets`` (one per tier, child regions ranked by ``new`` completion, the region's
    total) and ``quotas_and_applications`` (per child region and tier)."""
    region = _scope(actor, region)
    found = service.progress(session, actor, year=year, region=region, known_at=known_at, today=today)
    by_tier: dict[str, dict[str, dict[str, Measure]]] = defaultdict(lambda: defaultdict(dict))
    tiers: dict[str, str | list[str]] = {}
    for m in found.items:
        key = service.tier_key(m.tier)
        tiers.setdefault(key, m.tier)
        by_tier[key][m.region_code][m.kind] = m
    sheets = []
    for key, tier in tiers.items():
        regions = by_tier[key]
        kinds = [k for k in KIND_ORDER if any(k in measures for measures in regions.values())]
        rank_kind = RANK_KIND if RANK_KIND in kinds else kinds[0]
        rows: list[dict[str, Any]] = [{"region_code": code, "region_name": region_name(code) or code,
                 "measures": {k: _measure_out(m) for k, m in measures.items()}}
                for code, measures in regions.items() if code != region]
        rows.sort(key=lambda r: (r["measures"].get(rank_kind, {}).get("completion") is None,
                                 -(r["measures"].get(rank_kind, {}).get("completion") or 0), r["region_code"]))
        for rank, row in enumerate(rows, start=1):
            row["rank"] = rank
        total = regions.get(region, {})
        if not total:  # only the children have this tier's targets: the region's actual, no target of its own
            total = {k: service.measure(found.population, region, {"tier": tier, "kind": k}, year, found.as_of,
                                        own=False) for k in kinds}
        sheets.append({"tier": tier, "label": tier_label(tier, found.as_of), "kinds": kinds, "rank_by": rank_kind,
                       "rows": rows, "total": {"region_code": region, "region_name": region_name(region) or region,
                                               "measures": {k: _measure_out(m) for k, m in total.items()}}})
    return {"year": year, "region_code": region, "region_name": region_name(region) or region,
            "as_of": found.as_of.isoformat(), "known_at": known_at, "sheets": sheets,
            "quotas_and_applications": quotas_and_applications(session, actor, year=year, region=region,
                                                               found=found)}


def quotas_and_applications(session: Session, actor: Actor, *, year: int, region: str,
                            found: service.Progress) -> list[dict[str, Any]]:
    """Per child region and tier (those with a quota or an application): quota and application figures."""
    quota_rows = {(c.region_code, c.tier): c for _, children in quota_rules.quotas(
        session, actor, region=region, year=year, population=found.population, known_at=found.known_at)
        for c in children}
    apps = _application_rows(session, year, region)
    result = []
    for child in child_regions(region):
        mine = [row for row in apps if region_covers(child, row[0].region_code)]
        for tier in TITLE_TIERS:
            of_tier = [row for row in mine if row[1] == tier]
            quota = quota_rows.get((child, tier))
            if quota is None and not of_tier:
                continue
            result.append({"region_code": child, "region_name": region_name(child) or child, "tier": tier,
                           "base": quota.base if quota else None, "completion": quota.completion if quota else None,
                           "bonus": quota.bonus if quota else None, "quota": quota.quota if quota else None,
                           **_figures(of_tier)})
    return result

