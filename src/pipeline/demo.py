"""A demonstration data set: firms across 郑州, 平顶山 and 三门峡 with five years of history, written through
the same services as real work (so every event is sealed, every award derived, every title replayable).

Everything it creates is marked: firm names begin with 【演示】, principals with 演示·, and every principal
is created by :data:`CREATED_BY`. It loads only into a database holding nothing else — any firm or
principal it did not create is real data, and then it refuses (:class:`RealDataPresent`).
演示数据：郑州、平顶山、三门峡辖区企业五年的培育历程，全部经由正式业务流程写入。
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum.cn import uscc as stdnum_uscc

from pipeline.access import Actor
from pipeline.dynamic.obligations import record_filing
from pipeline.eligibility.indicators import record_indicators
from pipeline.errors import PipelineError
from pipeline.firms import service
from pipeline.models import Enterprise, Event, Principal
from pipeline.principals.service import actor_of, add_principal
from pipeline.titles import service as side_titles

CREATED_BY = "pipeline demo"
NAME_MARK = "【演示】"
PRINCIPAL_MARK = "演示·"

#: (region, weight): districts and counties of the three cities the seeds come from
REGIONS: tuple[tuple[str, int], ...] = (
    ("410102", 3), ("410103", 3), ("410105", 4), ("410106", 5), ("410122", 2),  # 郑州
    ("410402", 2), ("410411", 3),  # 平顶山 (湛河区 has its own awards)
    ("411202", 2), ("411203", 1),  # 三门峡
)
CITY_OF = {"4101": "410100", "4104": "410400", "4112": "411200"}

#: (role, level, region, name) — one principal per role a newcomer wants to sign in as
PRINCIPALS: tuple[tuple[str, str | None, str | None, str], ...] = (
    ("official", "province", "410000", "河南省工业和信息化厅"),
    ("official", "city", "410100", "郑州市工业和信息化局"),
    ("official", "city", "410400", "平顶山市工业和信息化局"),
    ("official", "city", "411200", "三门峡市工业和信息化局"),
    ("official", "district", "410106", "上街区工业和信息化局"),
    ("auditor", None, "410100", "郑州市审计局"),
    ("finance", None, "410100", "郑州市财政局"),
    ("integrator", None, "410000", "省级银行信贷平台（只读）"),
    ("admin", None, None, "系统管理员"),
)

INNOVATIVE_BATCHES = tuple((dt.date(year, month, day), f"{year}年第{n}批")
                           for year in (2021, 2022, 2023, 2024, 2025)
                           for n, (month, day) in enumerate(((6, 30), (12, 20)), start=1))
PROVINCIAL_BATCHES = tuple((dt.date(year, 7, 15), f"{year}年度") for year in (2022, 2023, 2024, 2025))
NATIONAL_BATCHES = ((dt.date(2023, 8, 1), "第五批"), (dt.date(2024, 8, 1), "第六批"), (dt.date(2025, 8, 1), "第七批"))

TRADES = ("精密制造", "新材料", "智能装备", "电子科技", "生物医药", "软件信息", "汽车零部件", "节能环保", "超硬材料",
          "食品科技", "新能源", "仪器仪表", "铝精深加工", "耐火材料", "数控机床")
STEMS = ("华", "中", "豫", "嵩", "黄河", "郑", "鹰", "湛", "崤", "金", "瑞", "宏", "锐", "博", "恒", "信", "联", "泰",
         "宇", "天", "新", "卓", "众", "远", "科", "晟", "康", "峰", "川", "源")

INDICATORS = {
    "independent_legal_person": True, "is_sme": True, "on_abnormal_or_dishonest_list": False,
    "major_incident_or_tax_violation_3y": False, "awards": [], "certifications": [], "rd_institution_level": "none",
    "equity_financing_3y": 0, "ip_high_value_class1": 0, "ip_self_developed_class1": 1, "ip_class1_count": 1,
    "ip_class2_count": 0, "strategic_emerging_field": True,
}


class RealDataPresent(PipelineError):
    """The database holds firms or principals the demo did not create."""


class DemoPresent(PipelineError):
    """The demonstration data set is loaded already."""


@dataclass
class DemoReport:
    firms: int = 0
    events: int = 0
    side_titles: int = 0
    filings: int = 0
    tokens: list[tuple[str, str, str]] = field(default_factory=list)
    """``(role and scope, principal name, token)`` — each shown once."""


def check_empty(session: Session) -> None:
    """Refuse a database with anything the demo did not create; and one that has the demo already."""
    demo_ids = select(Principal.id).where(Principal.created_by == CREATED_BY)
    real_principals = session.scalar(select(func.count()).select_from(Principal)
                                     .where(Principal.created_by != CREATED_BY))
    real_firms = session.scalar(select(func.count()).select_from(Event)
                                .where(Event.seq == 1, Event.actor.not_in(demo_ids)))
    if real_principals or real_firms:
        raise RealDataPresent(
            f"数据库中已有真实数据（{real_firms or 0}家企业、{real_principals or 0}个主体），演示数据只能载入空库 — "
            f"the database holds real data ({real_firms or 0} firm(s), {real_principals or 0} principal(s)); the "
            f"demonstration data set loads only into an empty database")
    if session.scalar(select(func.count()).select_from(Enterprise)):
        raise DemoPresent("演示数据已载入 — the demonstration data set is loaded already (its sign-in tokens were "
                          "printed then; `pipeline principal add` makes more)")


def uscc_for(region: str, serial: int) -> str:
    body = f"91{region}MA{serial:07d}"
    return body + str(stdnum_uscc.calc_check_digit(body))


def _name(rng: random.Random, region: str, taken: set[str]) -> str:
    while True:
        name = f"{NAME_MARK}{rng.choice(STEMS)}{rng.choice(STEMS)}{rng.choice(TRADES)}有限公司"
        if name not in taken:
            taken.add(name)
            return name


def _pick_region(rng: random.Random) -> str:
    return rng.choices([code for code, _ in REGIONS], weights=[weight for _, weight in REGIONS])[0]


def _next_batch(batches: tuple[tuple[dt.date, str], ...], after: dt.date) -> tuple[dt.date, str] | None:
    return next(((day, batch) for day, batch in batches if day > after), None)


@dataclass
class _Firm:
    uscc: str
    region: str
    city: Actor
    last: dt.date
    valid_until: dt.date | None = None
    tier: str = "reserve"


def load(session: Session, *, firms: int, today: dt.date, seed: int = 2026,
         on_progress: Callable[[int, int], None] | None = None) -> DemoReport:
    """Write the demonstration data set in ``session`` (the caller commits): principals, then ``firms`` firms
    with their history up to ``today``."""
    check_empty(session)
    report = DemoReport()
    actors: dict[str, Actor] = {}
    for role, level, region, name in PRINCIPALS:
        created = add_principal(session, name=f"{PRINCIPAL_MARK}{name}", role=role, level=level,
                                region_code=region, created_by=CREATED_BY)
        actors[f"{role}:{level or region or 'all'}:{region or 'all'}"] = actor_of(created.principal)
        scope = f"{role}{':' + level if level else ''} {region or '(all regions)'}"
        report.tokens.append((scope, created.principal.name, created.token))
    province = actors["official:province:410000"]
    cities = {prefix: actors[f"official:city:{code}"] for prefix, code in CITY_OF.items()}
    rng = random.Random(seed)  # noqa: S311 — a reproducible data set, not a secret
    names: set[str] = set()
    revoked = False
    for n in range(1, firms + 1):
        region = _pick_region(rng)
        enrolled = dt.date(2021, 2, 1) + dt.timedelta(days=rng.randrange(0, 1000))
        firm = _Firm(uscc_for(region, n), region, cities[region[:4]], enrolled)
        service.enroll(session, uscc=firm.uscc, name=_name(rng, region, names), region_code=region,
                       actor=firm.city, effective_date=enrolled, reason="纳入创新型中小企业后备清单")
        report.events += 1
        report.events += _history(session, rng, firm, province, today, revoke=not revoked)
        revoked = revoked or firm.tier == "revoked"
        report.side_titles += _side_titles(session, rng, firm, province, today)
        report.filings += _filings(session, rng, firm, province, today)
        report.firms += 1
        if on_progress is not None:
            on_progress(n, firms)
    return report


def _fire(session: Session, firm: _Firm, actor: Actor, trigger: str, day: dt.date, *, document_no: str,
          batch: str | None = None, reason_code: str | None = None, reason: str | None = None) -> None:
    evidence = {"document_no": document_no, **({"batch": batch} if batch else {})}
    outcome = service.transition(session, firm.uscc, trigger=trigger, effective_date=day, actor=actor,
                                 reason_code=reason_code, reason=reason, evidence=evidence)
    firm.last = day
    firm.tier = outcome.enterprise.state
    held = [t for t in outcome.enterprise.recognitions if t.ended_on is None and t.tier == firm.tier]
    firm.valid_until = max((t.valid_until for t in held), default=None)


def _history(session: Session, rng: random.Random, firm: _Firm, province: Actor, today: dt.date, *,
             revoke: bool) -> int:
    """Recognitions in batches, renewals at re-review, a few demotions and (once) a revocation."""
    events = 0
    steps = (("recognize_innovative", INNOVATIVE_BATCHES, 0.72, firm.city, "郑工信企业〔{y}〕{n}号"),
             ("recognize_provincial", PROVINCIAL_BATCHES, 0.42, province, "豫工信企业〔{y}〕{n}号"),
             ("recognize_national", NATIONAL_BATCHES, 0.3, province, "工信厅企业函〔{y}〕{n}号"))
    gap = 30
    for trigger, batches, chance, actor, document in steps:
        planned = _next_batch(batches, firm.last + dt.timedelta(days=gap))
        if planned is None or planned[0] > today or rng.random() > chance:
            break
        day, batch = planned
        if firm.valid_until is not None and day > firm.valid_until:
            break  # the lower title lapsed first: no recognition on top of it
        _fire(session, firm, actor, trigger, day, batch=batch,
              document_no=document.format(y=day.year, n=rng.randrange(10, 300)))
        events += 1
        gap = 330
    while firm.valid_until is not None and firm.valid_until < today and rng.random() < 0.65:
        review = firm.valid_until - dt.timedelta(days=rng.randrange(10, 60))
        if review <= firm.last:
            break
        _fire(session, firm, province if firm.tier != "innovative" else firm.city, "renew", review,
              document_no=f"豫工信企业〔{review.year}〕{rng.randrange(10, 300)}号", batch=f"{review.year}年复核")
        events += 1
    if firm.tier in ("provincial", "national") and firm.last < dt.date(2025, 9, 30) and rng.random() < 0.06:
        _fire(session, firm, province, "demote", dt.date(2025, 9, 30), reason_code="failed_review",
              reason="复核未通过：主营业务收入占比低于要求", document_no="豫工信企业〔2025〕166号")
        events += 1
    if revoke and firm.tier in ("provincial", "national") and firm.last < dt.date(2025, 10, 15):
        _fire(session, firm, province, "revoke", dt.date(2025, 10, 15), reason_code="false_information",
              reason="申报材料中研发费用数据不实", document_no="豫工信企业〔2025〕180号")
        events += 1
    return events


def _side_titles(session: Session, rng: random.Random, firm: _Firm, province: Actor, today: dt.date) -> int:
    granted = 0
    grants: list[tuple[str, dt.date, str | None]] = []
    if rng.random() < 0.08:
        grants.append(("high_tech_enterprise", firm.last + dt.timedelta(days=rng.randrange(20, 400)), None))
    if rng.random() < 0.05:
        grants.append(("tech_sme", dt.date(today.year, 5, 20), None))
    if firm.tier == "national" and rng.random() < 0.15:
        grants.append(("champion_product", dt.date(2025, 11, 20), "高精度伺服电机"))
    for kind, day, product in grants:
        if day > today:
            continue
        side_titles.grant(session, firm.uscc, kind=kind, granted_on=day, actor=province, product=product,
                          document_no=f"豫科〔{day.year}〕{rng.randrange(10, 99)}号")
        granted += 1
    return granted


def _filings(session: Session, rng: random.Random, firm: _Firm, actor: Actor, today: dt.date) -> int:
    """Annual data for titled firms: filed each spring, the latest year with indicators."""
    if firm.tier in ("reserve", "revoked"):
        return 0
    filed = 0
    for year in range(max(2023, firm.last.year - 1), today.year):
        filed_on = dt.date(year + 1, 4, 30) - dt.timedelta(days=rng.randrange(0, 40))
        if filed_on > today or rng.random() < 0.12:
            continue  # a late filer: the worklist flags it
        record_filing(session, firm.uscc, year=year, filed_on=filed_on, actor=actor)
        filed += 1
    year = today.year - 1
    revenue = rng.randrange(8, 400) * 1_000_000
    record_indicators(session, firm.uscc, year=year, actor=actor, values={
        **INDICATORS, "revenue": revenue, "rd_spend": revenue * rng.randrange(2, 9) // 100,
        "revenue_growth": round(rng.uniform(-0.05, 0.35), 2), "debt_ratio": round(rng.uniform(0.2, 0.7), 2),
        "main_business_share": round(rng.uniform(0.55, 0.95), 2)})
    return filed
