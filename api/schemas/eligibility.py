"""Request and response bodies of indicators, eligibility screening and candidate lists."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from api.schemas.common import EventOut, JsonObject, Text

MAX_LIMIT = 500


# --- schemas --------------------------------------------------------------------------------------------


class IndicatorValues(RootModel[JsonObject]):
    """年度指标 — indicator key → value; ratios are decimals (5% = 0.05), amounts in yuan, null = unknown."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "independent_legal_person": True, "is_sme": True, "on_abnormal_or_dishonest_list": False,
        "major_incident_or_tax_violation_3y": False, "revenue": 48_000_000, "main_business_revenue": 36_000_000,
        "revenue_growth": 0.12, "rd_spend": 1_920_000, "debt_ratio": 0.6, "ip_self_developed_class1": 1,
        "ip_high_value_class1": 0, "ip_class1_count": 1, "ip_class2_count": 3, "strategic_emerging_field": True,
        "certifications": ["management_system"], "rd_institution_level": "municipal",
        "awards": [{"type": "science", "level": "provincial", "year": 2024, "rank": 2}],
    }]})


class IndicatorRecordOut(BaseModel):
    uscc: str
    year: int = Field(description="数据年度 — the financial year of the figures (filed the year after)")
    filed_on: dt.date = Field(description="报送日期 — the annual filing this record belongs to")
    recorded_at: dt.datetime
    actor: str
    indicators: dict[str, Any] = Field(description="as entered (validated)")
    derived: dict[str, Any] = Field(description="derived by the rulebook (e.g. rd_ratio = rd_spend / revenue)")


class IndicatorsPutOut(IndicatorRecordOut):
    changes: dict[str, dict[str, Any]] = Field(description="key → {from, to}; empty when nothing changed")
    event: EventOut | None = Field(description="the amendment event; null when nothing changed")
    flags: dict[str, Any]


class IndicatorYearOut(BaseModel):
    year: int
    filed_on: dt.date
    indicators: int = Field(description="number of indicators entered")


class IndicatorYearsOut(BaseModel):
    uscc: str
    items: list[IndicatorYearOut]


class IndicatorSpecOut(BaseModel):
    key: str
    type: str
    unit: str | None
    minimum: float | None
    maximum: float | None
    label_zh: str
    label_en: str
    values: dict[str, str]
    levels: dict[str, str]
    derived_from: list[str] | None
    headers: list[str] = Field(description="spreadsheet headers the import reads as this indicator")
    note: str


class CatalogueOut(BaseModel):
    rulebook_id: str
    items: list[IndicatorSpecOut]


class IndicatorImportRowOut(BaseModel):
    row: int
    uscc: str
    year: int | None
    status: Literal["ok", "unchanged", "problem"]
    changed: list[str]
    problem: str | None


class IndicatorImportOut(BaseModel):
    """指标导入报告 — a dry run unless `dry_run=false`; applied all or nothing."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "file_name": "2025年度指标.xlsx", "file_sha256": "9f2c…", "dry_run": True, "applied": False, "rows": 1,
        "ok": 1, "unchanged": 0, "problems": 0, "events": 0, "columns": {"统一社会信用代码": "uscc",
                                                                          "营业收入（万元）": "revenue"},
        "ignored_headers": [], "items": [{"row": 2, "uscc": "91410106MA44PB8G3D", "year": 2025, "status": "ok",
                                          "changed": ["revenue"], "problem": None}]}]})

    file_name: str
    file_sha256: str
    dry_run: bool
    applied: bool
    rows: int
    ok: int
    unchanged: int
    problems: int
    events: int
    columns: dict[str, str]
    ignored_headers: list[str]
    items: list[IndicatorImportRowOut]


class UnmetOut(BaseModel):
    code: str
    kind: str
    status: Literal["failed", "unknown"]
    label_zh: str
    label_en: str
    missing: list[str]
    required: str | None
    actual: Any
    shortcut: str | None
    points_short: int | None
    children: list[UnmetOut]


class ItemScoreOut(BaseModel):
    code: str
    category: str
    label_zh: str
    label_en: str
    points: int | None
    points_range: list[int]
    band_zh: str | None
    band_en: str | None
    value: Any
    missing: list[str]


class CategoryOut(BaseModel):
    code: str
    label_zh: str
    label_en: str
    points: int | None
    points_range: list[int]
    min_points: int
    max_points: int
    overlay: str | None = Field(None, description="本地叠加规则 — the local overlay defining the category "
                                "(characteristic 特色化); null for national categories")


class OverlayRefOut(BaseModel):
    id: str
    content_hash: str
    region: str


class GapOut(BaseModel):
    conditions: list[str] = Field(description="failed conditions on the cheapest route")
    points: int = Field(description="score points short")
    unknown: list[str] = Field(description="conditions missing data leaves open")
    rank_key: list[int]


class EligibilityOut(BaseModel):
    uscc: str
    name: str
    state: str
    tier: str
    tier_label: str
    rulebook_id: str
    rulebook_hash: str
    year: int = Field(description="数据年度 — the indicators' year")
    assessment_year: int = Field(description="评价年度 — year + 1: dates award look-backs and year-bound rules")
    has_data: bool = Field(description="false: no indicators for the year, every data condition is unknown")
    re_review: bool
    holds_innovative: bool
    holds_provincial: bool
    outcome: Literal["pass", "fail", "unknown"]
    passed: bool | None
    total_points: int | None
    category_points: dict[str, int | None]
    categories: list[CategoryOut]
    items: list[ItemScoreOut]
    unmet: list[UnmetOut]
    missing: list[str]
    direct_condition: str | None
    waivers: list[str]
    not_applicable: list[str]
    gap: GapOut
    overlays: list[OverlayRefOut] = Field(
        default_factory=list, description="本地叠加规则 — local overlays scored in this result (id, content hash)")


class MarkOut(BaseModel):
    action: Literal["pin", "drop"]
    reason: str
    actor: str
    marked_on: str
    seq: int


class CandidateOut(BaseModel):
    uscc: str
    name: str
    region_code: str
    year: int | None = Field(description="数据年度 judged; null for a pinned firm without data")
    outcome: Literal["pass", "fail", "unknown"]
    passed: bool | None
    total_points: int | None
    category_points: dict[str, int | None]
    unmet: list[str] = Field(description="top-level unmet conditions")
    missing: list[str]
    direct_condition: str | None
    gap: GapOut | None
    mark: MarkOut | None
    state: str = Field(description="the firm's state (the 小巨人 list also holds 创新型 firms)")
    prerequisite_missing: str | None = Field(
        None, description="the lower title the firm does not hold yet: an 创新型 firm on the 小巨人 list is scored "
                          "without the provincial-title condition and shows `provincial` here")


class CandidatePage(BaseModel):
    tier: str
    tier_label: str
    list_state: str = Field(description="the state the list draws from (one tier below)")
    rulebook_id: str
    screened: int = Field(description="firms one tier below, in scope, with data, that were judged")
    total: int = Field(description="firms on the list")
    passed: int
    unknown: int
    items: list[CandidateOut]
    next_cursor: str | None


class MarkRequest(BaseModel):
    """后备清单标记 — pin a firm to a tier's list, drop it, or clear its mark; with a reason (audited)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"uscc": "91410106MA44PB8G3D", "action": "pin", "reason": "主导产品为省重点产业链关键环节，重点培育"},
        {"uscc": "91410106MA44PB8G3D", "action": "drop", "reason": "已迁出辖区"},
    ]})

    uscc: Annotated[Text, Field(max_length=40, description="统一社会信用代码")]
    action: Literal["pin", "drop", "clear"]
    reason: Annotated[Text, Field(max_length=2000, description="理由 — required for pin and drop")] | None = None


class MarkResultOut(BaseModel):
    uscc: str
    tier: str
    mark: MarkOut | None
    event: EventOut | None = Field(description="the amendment event; null when the same mark was already set")
    flags: dict[str, Any]
