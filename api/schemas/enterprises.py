"""Request and response bodies of /api/v1/enterprises: firms, transitions, history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import (
    LATEST_VALID_UNTIL,
    EventOut,
    HashRecipes,
    IsoDate,
    JsonObject,
    Text,
    TriggerName,
    _clean_json,
    _no_control_characters,
)


class Evidence(BaseModel):
    """证据：文号、批次、有效期至 — evidence of a decision. Further keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    document_no: Annotated[Text, Field(max_length=100, description="文号 — decision document number")] | None = None
    batch: Annotated[Text, Field(max_length=100, description="批次 — recognition batch")] | None = None
    valid_until: IsoDate | None = Field(
        None, le=LATEST_VALID_UNTIL,
        description="有效期至 — end of validity; defaults to the rulebook's validity years")

    @model_validator(mode="after")
    def _clean_extra(self) -> Evidence:
        """Further keys are stored in the event as given, so they must be JSON both databases can hold."""
        for key, value in (self.model_extra or {}).items():
            _no_control_characters(key)
            _clean_json(value, key)
        return self


class EnterpriseCreate(BaseModel):
    """纳入培育库：新建企业（首个事件为 enroll） — enroll a new firm in the reserve pool."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "uscc": "91410106MA44PB8G3D", "name": "郑州上街精密制造有限公司", "region_code": "410106",
        "effective_date": "2025-03-01", "reason": "区工信局梯度培育摸底纳入",
    }]})

    uscc: Annotated[Text, Field(max_length=40, description="统一社会信用代码 — unified social credit code")]
    name: Annotated[Text, Field(min_length=1, max_length=200, description="企业名称 — registered name")]
    region_code: Annotated[Text, Field(max_length=6, description="区划代码 GB/T 2260; default USCC 3–8")] | None = None
    effective_date: IsoDate | None = Field(None, description="纳入日期 — business date; default today (CST)")
    reason: Annotated[Text, Field(max_length=2000, description="纳入理由 — reason")] | None = None
    data: JsonObject | None = Field(None, description="其他企业信息 — further firm data")


class EnterprisePatch(BaseModel):
    """修改企业信息（记为 amendment 事件） — edit a firm's data, recorded as an amendment."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "郑州上街精密制造股份有限公司", "reason": "企业更名（营业执照变更）",
    }]})

    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    region_code: Annotated[Text, Field(max_length=6)] | None = None
    data: JsonObject | None = Field(None, description="merged into the firm's data; a null value removes a key")
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class TransitionRequest(BaseModel):
    """状态变更 — fire a trigger on a firm as of its effective (decision) date."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "trigger": "recognize_provincial", "effective_date": "2025-06-30",
        "evidence": {"document_no": "豫工信企业〔2025〕88号", "batch": "2025年第一批"},
    }, {
        "trigger": "revoke", "effective_date": "2025-09-01", "reason_code": "false_information",
        "reason": "申报材料中研发费用数据不实", "evidence": {"document_no": "豫工信企业〔2025〕120号"},
    }]})

    trigger: TriggerName = Field(description="enroll, recognize_innovative, recognize_provincial, "
                                             "recognize_national, renew, demote, expire, revoke, remove")
    effective_date: IsoDate = Field(description="生效日期（认定/撤销日期） — the decision's business date")
    reason_code: Annotated[Text, Field(max_length=64, description="原因代码 (rulebook catalogue)")] | None = None
    reason: Annotated[Text, Field(max_length=2000, description="原因说明 — reason text")] | None = None
    evidence: Evidence | None = None
    region_code: Annotated[Text, Field(max_length=6, description=(
        "迁入区划 — only with `enroll` of a firm removed as `relocated`: the region where it arrives (GB/T "
        "2260), which the caller's jurisdiction must cover; the firm moves there and gets back its highest "
        "title still valid"))] | None = None


class RecognitionOut(BaseModel):
    tier: str
    tier_label: str
    document_no: str | None
    batch: str | None
    recognized_on: dt.date
    valid_until: dt.date
    ended_on: dt.date | None
    end_reason: str | None
    valid_today: bool


class TriggerOptionOut(BaseModel):
    trigger: str
    allowed: bool
    reasons: list[str]


class EnterpriseSummary(BaseModel):
    uscc: str
    name: str
    region_code: str
    state: str
    state_label: str
    version: int
    barred_until: dt.date | None
    recognitions: list[RecognitionOut]
    data: dict[str, Any]
    flags: dict[str, Any]


class EnterpriseOut(EnterpriseSummary):
    allowed_triggers: list[TriggerOptionOut]


class TransitionOut(BaseModel):
    enterprise: EnterpriseOut
    event: EventOut


class EnterprisePage(BaseModel):
    items: list[EnterpriseSummary]
    next_cursor: str | None


class HistoryOut(BaseModel):
    items: list[EventOut]
    hash_recipes: HashRecipes
    voided_by: dict[str, int] = Field(
        default_factory=dict,
        description="已作废事件 → 作废它的更正事件序号 — seq of each voided event → seq of the correction that "
                    "voided it. Kept beside the items so that every item is exactly the hashed fields.")
