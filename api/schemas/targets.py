"""Request and response bodies of /api/v1/targets and /api/v1/quotas."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import IsoDate, Text

TierName = Annotated[Text, Field(max_length=32, description="梯度或并列称号 — a tier or a side-title kind")]
TierOrTiers = TierName | Annotated[list[TierName], Field(min_length=1, max_length=10)]
TargetKind = Literal["new", "total", "growth"]


class TargetItemIn(BaseModel):
    """一个目标 — one target of a region-year."""

    model_config = ConfigDict(extra="forbid")

    tier: TierOrTiers = Field(description="称号，或称号列表（持有其一的企业数，如专精特新 = provincial + national）")
    kind: TargetKind = Field(description="new: 年内新认定; total: 年末（当年为今日）持有; growth: 基期持有数的倍数")
    value: int | float = Field(gt=0, le=1_000_000, description="目标值；growth 为倍数")
    baseline_date: IsoDate | None = Field(None, description="基期日期 — growth only")
    document_no: Annotated[Text, Field(max_length=100, description="文号 — the document that sets the target")]


class TargetsPut(BaseModel):
    """设定目标 — replace a region-year's targets (a new version; the old one stays in the history)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [
        {"tier": "national", "kind": "new", "value": 20, "document_no": "郑工信企业〔2025〕4号"},
        {"tier": ["provincial", "national"], "kind": "total", "value": 630, "document_no": "郑政办〔2022〕36号"},
        {"tier": "provincial", "kind": "growth", "value": 3, "baseline_date": "2022-12-31",
         "document_no": "平湛政办〔2022〕8号"}]}]})

    items: list[TargetItemIn] = Field(max_length=100)
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class TargetItemOut(BaseModel):
    tier: str | list[str]
    kind: TargetKind
    value: int | float
    baseline_date: dt.date | None = None
    document_no: str


class TargetsOut(BaseModel):
    region_code: str
    year: int
    version: int = Field(description="版本 — 1 for the first PUT, +1 for each revision")
    versions: int = Field(description="版本数 — how many versions the chain holds")
    items: list[TargetItemOut]
    updated_by: str
    updated_at: dt.datetime


class ProgressItemOut(BaseModel):
    region_code: str
    region_name: str
    tier: str | list[str]
    kind: TargetKind
    target: int | float | None = Field(description="目标数（growth: 倍数 × 基期持有数）；下级无自有目标时为 null")
    actual: int = Field(description="实际数，由事件计得（作废的认定不计）")
    completion: float | None = Field(description="完成率（0.5 = 一半）；目标为 null 或 0 时为 null")
    remaining: int | float | None = Field(description="尚差 = max(目标 − 实际, 0)")


class ProgressOut(BaseModel):
    year: int
    region_code: str
    as_of: dt.date = Field(description="计数日期 — 31 December, or today while the year runs")
    known_at: dt.datetime | None
    items: list[ProgressItemOut]


class QuotaBonusStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_completion: float = Field(ge=0, le=100, description="完成率门槛（1.0 = 完成目标）")
    extra: int = Field(ge=0, le=100_000, description="增加的推荐名额")


class QuotaBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: TierOrTiers
    kind: TargetKind


class QuotaPut(BaseModel):
    """设定推荐名额 — base per child region, and the bonus a completion rate earns."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "base": {"410102": 10, "410106": 5}, "bonus": [{"min_completion": 0.8, "extra": 1},
                                                        {"min_completion": 1.0, "extra": 3}],
        "based_on": {"tier": "innovative", "kind": "new"}}]})

    base: dict[Annotated[str, Field(pattern=r"^\d{6}$")], Annotated[int, Field(ge=0, le=100_000)]] = Field(
        max_length=200)
    bonus: list[QuotaBonusStep] = Field(default_factory=list, max_length=20)
    based_on: QuotaBasis | None = None
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class QuotaChildOut(BaseModel):
    region_code: str
    region_name: str
    tier: str
    base: int
    completion: float | None = Field(description="based_on 目标的完成率")
    bonus: int = Field(description="所达最高门槛的增加名额")
    quota: int = Field(description="名额 = base + bonus")


class QuotaOut(BaseModel):
    region_code: str
    year: int
    tier: str
    version: int
    base: dict[str, int]
    bonus: list[QuotaBonusStep]
    based_on: QuotaBasis | None
    updated_by: str
    items: list[QuotaChildOut]


class QuotaListOut(BaseModel):
    items: list[QuotaOut]
