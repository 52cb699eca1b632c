"""Request and response bodies of /api/v1/awards."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import IsoDate, JsonObject


class FirmAwardsOut(BaseModel):
    items: list[dict[str, Any]]
    unearned: list[dict[str, Any]]


class AwardRecordOut(BaseModel):
    entitlement_id: int
    seq: int
    action: str
    status: str
    recorded_at: str
    actor: str
    reason: str | None
    details: dict[str, Any]
    request_id: str | None
    prev_hash: str
    hash: str


class AwardHistoryOut(BaseModel):
    items: list[AwardRecordOut]


class AwardPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="下一页游标；null = 最后一页 — next page's cursor; null on the last")


class AwardApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "经局务会审定"}]})

    reason: str | None = Field(default=None, max_length=2000, description="审批意见 — note")
    evidence: JsonObject = Field(default_factory=dict, description="依据（会议纪要编号等） — evidence")


class AwardBatchApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": [1, 2, 3]}]})

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=500,
                                                                 description="应享记录 id — entitlement ids")
    reason: str | None = Field(default=None, max_length=2000, description="审批意见 — note")


class AwardBatchOut(BaseModel):
    items: list[dict[str, Any]]


class AwardPayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"paid_on": "2025-06-30", "document_no": "郑财预〔2025〕12号"}]})

    paid_on: IsoDate = Field(description="拨付日期 — the day the share was paid")
    document_no: str = Field(min_length=1, max_length=100, description="拨付文号 — payment document number")
    evidence: JsonObject = Field(default_factory=dict, description="依据 — evidence (voucher number …)")


class AwardCancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "企业放弃申领"}]})

    reason: str = Field(min_length=1, max_length=2000, description="取消理由 — why")
    evidence: JsonObject = Field(default_factory=dict, description="依据 — evidence")


class AwardSettleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason": "已全额退回", "document_no": "缴款书2025-001"}]})

    reason: str = Field(min_length=1, max_length=2000, description="追回情况 — how the clawback was settled")
    document_no: str | None = Field(default=None, max_length=100, description="缴款凭证号 — refund document")
    evidence: JsonObject = Field(default_factory=dict, description="依据 — evidence")


class ManualAwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "uscc": "91410102MA00000000", "policy_id": "zhengzhou-2022-36", "award_id": "provincial",
        "effective_date": "2025-03-01", "basis": "整体迁入本市且正常经营一年，参照新认定补贴标准（郑政办〔2022〕36号）",
        "evidence": {"document": "迁入备案2024-17"}}]})

    uscc: str = Field(max_length=40, description="统一社会信用代码")
    policy_id: str = Field(max_length=64, description="政策包 id")
    award_id: str = Field(max_length=64, description="奖励 id")
    effective_date: IsoDate = Field(description="应享依据日期 — the date the entitlement stands on")
    basis: str = Field(min_length=1, max_length=2000, description="依据条款与判断 — the clause and the judgment")
    evidence: JsonObject = Field(description="证明材料 — evidence")


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 20000000}]})

    amount: int = Field(ge=0, le=10**13, strict=True, description="年度奖励预算（元） — the year's budget in yuan")


class BudgetOut(BaseModel):
    payer_region: str
    year: int
    amount: int
    actor: str
    updated_at: str


class AwardsReportRow(BaseModel):
    policy_id: str
    document_no: str | None
    payer_region: str
    owed: int
    approved: int
    paid: int
    outstanding: int
    budget: int | None


class AwardsPayerTotal(BaseModel):
    payer_region: str
    payer_name: str | None
    owed: int
    approved: int
    paid: int
    outstanding: int
    budget: int | None
    budget_left: int | None


class AwardsReportOut(BaseModel):
    year: int
    region: str | None
    items: list[AwardsReportRow]
    payers: list[AwardsPayerTotal]
