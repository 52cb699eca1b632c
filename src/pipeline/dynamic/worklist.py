"""The re-review worklist (复核清单): titles whose validity ends soon, grouped as MIIT re-reviews them.

Each year's notice re-reviews the batch recognised three years earlier, so the list is grouped by tier
and recognition batch. It lists the title that carries each firm's state (a 小巨人's lapsing provincial
title changes nothing and is not re-reviewed on its own). The annual-data flag is recomputed here from
the filings, so the list is exact whatever day it is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor, in_jurisdiction
from pipeline.dynamic.obligations import ANNUAL_DATA_OVERDUE, FLAGS, annual_flag, latest_closed_year, with_flag
from pipeline.errors import InvalidInput
from pipeline.models import Enterprise, Recognition
from pipeline.models.dynamic import AnnualFiling
from pipeline.rulebooks import TITLE_TIERS, rulebook_in_force

MAX_WITHIN_DAYS = 3660


@dataclass(frozen=True)
class DueItem:
    uscc: str
    name: str
    region_code: str
    valid_until: dt.date
    flags: dict[str, Any]


@dataclass
class DueGroup:
    tier: str
    tier_label: str
    batch: str | None
    items: list[DueItem] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)


def due(
    session: Session, actor: Actor, *, within_days: int, today: dt.date, tier: str | None = None,
    region: str | None = None, flag: str | None = None,
) -> list[DueGroup]:
    """Titles ending in ``[today, today + within_days]`` in the actor's jurisdiction, highest tier first."""
    if not 0 <= within_days <= MAX_WITHIN_DAYS:
        raise InvalidInput(f"within_days must be 0–{MAX_WITHIN_DAYS}", field="within_days")
    if tier is not None and tier not in TITLE_TIERS:
        raise InvalidInput(f"未知称号 — unknown tier {tier!r}; tiers: {', '.join(TITLE_TIERS)}", field="tier")
    if flag is not None and flag not in FLAGS:
        raise InvalidInput(f"未知标记 — unknown flag {flag!r}; flags: {', '.join(FLAGS)}", field="flag")
    query = (
        select(Enterprise, Recognition)
        .join(Recognition, Recognition.enterprise_id == Enterprise.id)
        .where(Recognition.ended_on.is_(None), Recognition.tier == Enterprise.state,
               Recognition.valid_until >= today, Recognition.valid_until <= today + dt.timedelta(days=within_days))
        .order_by(Recognition.valid_until, Enterprise.uscc)
    )
    query = in_jurisdiction(query, actor, region)
    if tier is not None:
        query = query.where(Recognition.tier == tier)
    rows: Sequence[tuple[Enterprise, Recognition]] = [(e, r) for e, r in session.execute(query)]
    filings = _filings(session, [e.id for e, _ in rows], latest_closed_year(today))
    book = rulebook_in_force(today)
    groups: dict[tuple[str, str | None], DueGroup] = {}
    for firm, title in rows:
        fresh = annual_flag(firm.recognitions, filings.get(firm.id, {}), today)
        flags = with_flag(firm.flags, ANNUAL_DATA_OVERDUE, fresh)
        if flag is not None and flag not in flags:
            continue
        group = groups.setdefault((title.tier, title.batch), DueGroup(title.tier, book.label(title.tier), title.batch))
        group.items.append(DueItem(firm.uscc, firm.name, firm.region_code, title.valid_until, flags))
    return sorted(groups.values(), key=lambda g: (-TITLE_TIERS.index(g.tier), g.batch or ""))


def _filings(session: Session, ids: list[int], year: int) -> dict[int, dict[int, dt.date]]:
    result: dict[int, dict[int, dt.date]] = {}
    for start in range(0, len(ids), 1000):
        rows = session.execute(select(AnnualFiling.enterprise_id, AnnualFiling.year, AnnualFiling.filed_on).where(
            AnnualFiling.enterprise_id.in_(ids[start:start + 1000]), AnnualFiling.year == year))
        for enterprise_id, filed_year, filed_on in rows:
            result.setdefault(enterprise_id, {})[filed_year] = filed_on
    return result
