"""Request and response bodies of /api/v1/policies."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import IsoDate


class PayerOut(BaseModel):
    region_code: str
    percent: int


class AwardOut(BaseModel):
    id: str
    label: str
    trigger: str | None
    side_title_kind: str | None
    amount: int | None = Field(description="元；null = 文件未定，待官员录入 — yuan; null while left to be entered")
    first_only: bool
    ratio: float | None
    funds_field: str | None
    payers: list[PayerOut]


class PolicyOut(BaseModel):
    id: str
    version: int
    title: str
    document_no: str
    issuing_body: str
    jurisdiction: str
    level: str
    in_force_from: dt.date
    in_force_until: dt.date | None
    first_only: bool
    stacking_group: str
    mode: str
    notes: list[str]
    awards: list[AwardOut]
    credit_ceilings: dict[str, int] = Field(description="无抵押“专精特新贷”授信上限（元），按层级 — unsecured credit "
                                                        "ceiling per tier, yuan")
    whitelist_min_tier: str | None = Field(description="白名单最低层级（provincial = 省级及以上） — firms holding "
                                                       "this tier or higher are white-listed")
    content_hash: str


class PolicyList(BaseModel):
    items: list[PolicyOut]


class AmountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 300000}]})

    amount: int = Field(ge=0, le=10**12, strict=True, description="金额（元，整数） — amount in yuan")


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"in_force_until": "2026-12-31"}]})

    in_force_until: IsoDate | None = Field(description="失效日期（含）；null = 长期有效 — last day in force")
