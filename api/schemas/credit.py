"""Request and response bodies of the credit routes: a firm's credit, the white-list, loans and the report."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import IsoDate, Text


class CreditPolicyUse(BaseModel):
    id: str = Field(description="政策包 id")
    hash: str = Field(description="政策包内容哈希 — the pack version's content hash")
    used_for: Literal["ceiling", "whitelist"]


class CreditOut(BaseModel):
    uscc: str
    as_of: dt.date
    highest_title: str | None = Field(description="当日有效的最高称号 — highest title valid on as_of")
    ceiling_yuan: int | None = Field(description="无抵押授信上限（元）；null = 当日无适用政策 — null: no pack in force")
    whitelisted: bool
    policies: list[CreditPolicyUse]
    outstanding_yuan: int = Field(description="各银行未还无抵押贷款余额 — every bank's unsecured loans not repaid")
    headroom_yuan: int | None = Field(description="剩余额度 — ceiling less outstanding (never below 0)")
    basis: str = Field(description="依据（中文说明） — why, in words")


class WhitelistItem(BaseModel):
    uscc: str
    name: str
    region_code: str
    highest_title: str
    highest_title_label: str
    valid_until: dt.date
    ceiling_yuan: int | None
    policies: list[CreditPolicyUse]


class WhitelistPage(BaseModel):
    as_of: dt.date
    items: list[WhitelistItem]
    next_cursor: str | None


class LoanIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "bank": "郑州银行", "product": "专精特新贷", "contract_no": "ZZB-2025-0001", "amount_yuan": 5_000_000,
        "signed_on": "2025-03-01", "matures_on": "2026-02-28", "secured": False}]})

    bank: Text = Field(min_length=1, max_length=200, description="银行名称（显示用；放款行即调用方） — display name")
    product: Text = Field(min_length=1, max_length=200)
    contract_no: Text = Field(min_length=1, max_length=100, description="合同号，同一银行内唯一")
    amount_yuan: int = Field(gt=0, le=10**13, strict=True, description="金额（元，整数）")
    signed_on: IsoDate
    matures_on: IsoDate
    secured: bool = Field(strict=True, description="有抵押担保：不占用无抵押授信上限 — secured loans do not use "
                                                   "the unsecured ceiling")


class RepaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"repaid_on": "2025-09-01",
                                                                               "amount_yuan": 1_000_000}]})

    repaid_on: IsoDate
    amount_yuan: int | None = Field(default=None, gt=0, le=10**13, strict=True,
                                    description="还款金额（元）；缺省 = 还清 — default: the rest of the loan")


class LoanRepaymentOut(BaseModel):
    repaid_on: dt.date
    amount_yuan: int
    recorded_at: str


class LoanOut(BaseModel):
    id: int
    bank_id: str
    bank: str
    uscc: str
    region_code: str
    product: str
    contract_no: str
    amount_yuan: int
    signed_on: dt.date
    matures_on: dt.date
    secured: bool
    ceiling_yuan: int | None = Field(description="签约日适用的授信上限 — the ceiling on signed_on")
    headroom_yuan: int | None
    over_ceiling: bool
    ceiling_checked_at: str = Field(description="核查上限的时刻 — when the ceiling was checked")
    policies: list[CreditPolicyUse]
    basis: str
    repaid_yuan: int
    repayments: list[LoanRepaymentOut]
    outstanding_yuan: int
    overdue: bool = Field(description="已过到期日仍未还清 — past matures_on and not repaid")
    recorded_at: str


class LoanPage(BaseModel):
    as_of: dt.date
    items: list[LoanOut]
    next_cursor: str | None


class CreditTierRow(BaseModel):
    tier: str = Field(description="innovative / provincial / national, or `untitled` (loans to firms holding no "
                                  "title that day)")
    tier_label: str
    firms: int
    whitelisted: int
    firms_with_loan: int
    loans: int
    outstanding_yuan: int
    ceilings_yuan: int = Field(description="这些企业授信上限之和 — the firms' ceilings added up")
    ceiling_used: float | None = Field(description="无抵押余额占上限之比 — unsecured outstanding / ceilings")


class CreditReportOut(BaseModel):
    as_of: dt.date
    region: str | None
    tiers: list[CreditTierRow]
