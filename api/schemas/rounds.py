"""Request and response bodies of /api/v1/rounds, /api/v1/applications and the reports built on them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import IsoDate, Text
from api.schemas.targets import TargetKind


class RoundCreate(BaseModel):
    """开启申报批次 — a round of a tier."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "tier": "provincial", "year": 2025, "batch": "2025年第一批", "opens_on": "2025-03-01",
        "closes_on": "2025-04-30", "document_no": "豫工信企业〔2025〕20号"}]})

    tier: Literal["innovative", "provincial", "national"]
    year: int = Field(ge=2000, le=2100)
    batch: Annotated[Text, Field(min_length=1, max_length=100, description="批次 — recorded on each recognition")]
    opens_on: IsoDate
    closes_on: IsoDate
    document_no: Annotated[Text, Field(min_length=1, max_length=100, description="申报通知文号")]


class RoundOut(BaseModel):
    id: int
    tier: str
    year: int
    batch: str
    opens_on: dt.date
    closes_on: dt.date
    document_no: str
    region_code: str | None
    created_by: str


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Annotated[Text, Field(max_length=40, description="统一社会信用代码")]
    submitted_on: IsoDate


class RecommendRequest(BaseModel):
    """推荐 (default) or 不推荐 (``recommended: false``)."""

    model_config = ConfigDict(extra="forbid")

    recommended: bool = True
    recommended_on: IsoDate | None = Field(None, description="推荐日期 — default today")
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class LostPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criterion: Annotated[Text, Field(max_length=64, description="失分指标 — an indicator key of the eligibility "
                                                                "rulebook (GET /api/v1/indicators)")]
    points: int | float = Field(gt=0, le=1000)
    note: Annotated[Text, Field(max_length=2000)] | None = None


class DecisionRequest(BaseModel):
    """认定结果 — approval fires the recognition (same batch, this document number)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "outcome": "rejected", "decided_on": "2025-07-01", "document_no": "豫工信企业〔2025〕88号",
        "lost_points": [{"criterion": "rd_ratio", "points": 5, "note": "研发投入占比不足"}]}]})

    outcome: Literal["approved", "rejected"]
    decided_on: IsoDate
    document_no: Annotated[Text, Field(min_length=1, max_length=100)]
    lost_points: list[LostPoint] = Field(default_factory=list, max_length=100)
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class WithdrawRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Text, Field(max_length=2000)] | None = None


class LostPointOut(BaseModel):
    criterion: str
    points: int | float
    note: str | None = None


class ApplicationOut(BaseModel):
    id: int
    round_id: int
    tier: str
    year: int
    batch: str
    uscc: str
    region_code: str
    status: Literal["applied", "recommended", "not_recommended", "approved", "rejected", "withdrawn"]
    version: int
    submitted_on: dt.date
    recommended_on: dt.date | None
    decided_on: dt.date | None
    document_no: str | None
    lost_points: list[LostPointOut]
    recognition_seq: int | None = Field(description="认定事件在企业链中的序号 — the recognition an approval fired")
    eligibility: str = Field(description="资格筛查 — the firm's eligibility screening for the round's tier")


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None


class CriterionLoss(BaseModel):
    criterion: str
    label: str
    points: int | float
    applications: int


class FirmLoss(BaseModel):
    application_id: int
    uscc: str
    name: str
    tier: str
    status: str
    lost_points: list[LostPointOut]
    eligibility: str


class RegionApplicationsOut(BaseModel):
    region_code: str
    region_name: str
    applied: int
    recommended: int
    approved: int
    conversion_rate: float | None = Field(description="转化率 = 认定 ÷ 申报")
    lost_points: list[CriterionLoss] = Field(description="失分按指标汇总（靶向培育）")
    firms: list[FirmLoss]


class ApplicationsReportOut(BaseModel):
    year: int
    region_code: str
    region_name: str
    total: RegionApplicationsOut
    items: list[RegionApplicationsOut]


class MeasureCellOut(BaseModel):
    target: int | float | None
    actual: int
    completion: float | None
    remaining: int | float | None


class ReportRowOut(BaseModel):
    rank: int
    region_code: str
    region_name: str
    measures: dict[TargetKind, MeasureCellOut]


class ReportTotalOut(BaseModel):
    region_code: str
    region_name: str
    measures: dict[TargetKind, MeasureCellOut]


class ReportSheetOut(BaseModel):
    tier: str | list[str]
    label: str
    kinds: list[TargetKind]
    rank_by: TargetKind
    rows: list[ReportRowOut]
    total: ReportTotalOut


class QuotaApplicationsRowOut(BaseModel):
    region_code: str
    region_name: str
    tier: str
    base: int | None
    completion: float | None
    bonus: int | None
    quota: int | None
    applied: int
    recommended: int
    approved: int
    conversion_rate: float | None


class ProgressReportOut(BaseModel):
    year: int
    region_code: str
    region_name: str
    as_of: dt.date
    known_at: dt.datetime | None
    sheets: list[ReportSheetOut]
    quotas_and_applications: list[QuotaApplicationsRowOut]


def application_out(view: dict[str, Any]) -> ApplicationOut:
    return ApplicationOut(**view, eligibility=f"/api/v1/enterprises/{view['uscc']}/eligibility?tier={view['tier']}")
