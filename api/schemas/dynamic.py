"""Request and response bodies of /api/v1/dynamic-management (sweeps, re-review worklist, batches, filings)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import EventOut, IsoDate, Text, TriggerName
from api.schemas.enterprises import EnterpriseOut, Evidence

MAX_SWEEP_ITEMS = 10_000
MAX_BATCH_ITEMS = 2_000


# --- schemas --------------------------------------------------------------------------------------------


class SweepRequest(BaseModel):
    """有效期届满清理 — expire every title whose validity ended before ``as_of`` (dry run unless ``apply``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"as_of": "2026-01-01", "apply": False}, {"as_of": "2026-01-01", "apply": True}]})

    as_of: IsoDate | None = Field(None, description="清理基准日 — titles with valid_until < as_of lapse; "
                                                    "default today (CST); never in the future")
    apply: bool = Field(False, strict=True, description="写入 expire 事件，否则只返回将要发生的变化 — write?")
    limit: int = Field(1000, ge=0, le=MAX_SWEEP_ITEMS, strict=True, description="返回明细条数上限 — items listed")


class SweepItemOut(BaseModel):
    uscc: str
    region_code: str
    tier: str
    valid_until: dt.date
    effective_date: dt.date
    from_state: str
    to_state: str
    ended_titles: list[str]
    seq: int | None


class SkippedOut(BaseModel):
    uscc: str
    reason: str


class SweepOut(BaseModel):
    as_of: dt.date
    applied: bool
    candidates: int
    firms_expired: int
    events: int
    by_tier: dict[str, int]
    ended_titles: dict[str, int]
    side_titles_ended: dict[str, int]
    skipped: list[SkippedOut]
    items: list[SweepItemOut]
    items_truncated: bool


class DueItemOut(BaseModel):
    uscc: str
    name: str
    region_code: str
    valid_until: dt.date
    flags: dict[str, Any]


class DueGroupOut(BaseModel):
    tier: str
    tier_label: str
    batch: str | None
    count: int
    items: list[DueItemOut]


class DueOut(BaseModel):
    today: dt.date
    until: dt.date
    total: int
    groups: list[DueGroupOut]


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Annotated[Text, Field(max_length=40, description="统一社会信用代码")]
    trigger: TriggerName
    effective_date: IsoDate = Field(description="生效日期 — the decision's business date")
    reason_code: Annotated[Text, Field(max_length=64)] | None = None
    reason: Annotated[Text, Field(max_length=2000)] | None = None
    evidence: Evidence | None = None


class BatchRequest(BaseModel):
    """批量撤销/降级等 — many transitions at once; ``all_or_nothing`` or ``each``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "mode": "all_or_nothing",
        "items": [
            {"uscc": "91410106MA44PB8G3D", "trigger": "demote", "effective_date": "2026-07-01",
             "reason_code": "failed_review", "reason": "2026年复核未通过"},
            {"uscc": "91410100000000001X", "trigger": "revoke", "effective_date": "2026-07-01",
             "reason_code": "false_information", "reason": "申报材料不实",
             "evidence": {"document_no": "豫工信企业〔2026〕37号"}},
        ],
    }]})

    mode: Literal["all_or_nothing", "each"] = "all_or_nothing"
    items: list[BatchItemIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class ItemProblemOut(BaseModel):
    type: str
    title: str
    detail: str


class BatchResultOut(BaseModel):
    index: int
    uscc: str
    status: Literal["ok", "failed"]
    event: EventOut | None = None
    problem: ItemProblemOut | None = None


class BatchOut(BaseModel):
    mode: str
    total: int
    succeeded: int
    failed: int
    results: list[BatchResultOut]


class FilingRequest(BaseModel):
    """年度数据报送 — the date the firm filed its data for the year in the path."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"filed_on": "2026-04-20"}]})

    filed_on: IsoDate = Field(description="报送日期 — the day the firm filed (not in the future)")


class FilingOut(BaseModel):
    uscc: str
    year: int
    filed_on: dt.date
    deadline: dt.date
    on_time: bool
    event: EventOut | None = Field(description="the amendment event; null when this filing was already on record")
    flags: dict[str, Any]


class ChangeRequest(BaseModel):
    """重大变化报告 — a rename, merger, reorganisation, move out of the province, foreign branch …"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "rename", "occurred_on": "2026-09-01", "detail": "更名为郑州上街精密制造股份有限公司"},
        {"kind": "relocation_out_of_province", "occurred_on": "2026-10-15", "detail": "迁至湖北省武汉市",
         "remove_from_pool": True, "document_no": "郑工信〔2026〕88号"},
    ]})

    kind: Annotated[Text, Field(max_length=64, description="rename, merger, reorganisation, "
                                "relocation_out_of_province, foreign_branch, other (rulebook [change_kinds])")]
    occurred_on: IsoDate = Field(description="发生日期 — when the change happened")
    detail: Annotated[Text, Field(min_length=1, max_length=2000, description="变化内容 — what changed")]
    remove_from_pool: bool = Field(False, strict=True, description="迁出本省时同时移出培育库（remove, relocated）")
    document_no: Annotated[Text, Field(max_length=100, description="移出文号 — the removal's document number; "
                                                                 "needed when the firm holds a title")] | None = None


class ChangeOut(BaseModel):
    late: bool
    due_by: dt.date
    event: EventOut
    removal_event: EventOut | None
    enterprise: EnterpriseOut
