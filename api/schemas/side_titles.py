"""Request and response bodies of /api/v1/enterprises/{uscc}/side-titles."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import LATEST_VALID_UNTIL, EventOut, IsoDate, Text


class SideTitleGrant(BaseModel):
    """授予并列称号 — grant a title beside the tiers."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "kind": "champion_product", "granted_on": "2025-11-20", "document_no": "工信部产业函〔2025〕301号",
        "product": "高精度数控机床主轴", "issuer_level": "national",
    }]})

    kind: Annotated[Text, Field(max_length=32, description="称号类别 — a side-title kind of the rulebook")]
    granted_on: IsoDate = Field(description="授予日期 — the certificate's date")
    valid_until: IsoDate | None = Field(None, le=LATEST_VALID_UNTIL,
                                        description="有效期至 — default from the rulebook per kind")
    document_no: Annotated[Text, Field(max_length=100, description="文号 — the granting document's number")]
    product: Annotated[Text, Field(max_length=200, description="产品名称 — 单项冠军产品 only")] | None = None
    issuer_level: Annotated[Text, Field(max_length=16, description="national / provincial / city; default by "
                                                                   "kind")] | None = None
    reason: Annotated[Text, Field(max_length=2000)] | None = None
    funds_yuan: int | None = Field(None, ge=0, le=10**12, strict=True, description=(
        "项目资金（元） — the national funds the title brings (重点“小巨人”); policy packs match it "
        "(三政办〔2022〕8号: 1:1)"))


class SideTitleEnd(BaseModel):
    """结束并列称号 — end a side title before its validity ends."""

    model_config = ConfigDict(extra="forbid")

    ended_on: IsoDate = Field(description="结束日期 — the title is no longer held from this date")
    reason_code: Annotated[Text, Field(max_length=64, description="原因代码 — rulebook catalogue end_side_title")]
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class SideTitleOut(BaseModel):
    id: int
    kind: str
    kind_label: str
    granted_on: dt.date
    valid_until: dt.date
    issuer_level: str
    document_no: str
    product: str | None
    ended_on: dt.date | None
    end_reason_code: str | None


class SideTitleEventOut(BaseModel):
    side_title: SideTitleOut
    event: EventOut


class SideTitlePage(BaseModel):
    items: list[SideTitleOut]
