"""Request and response models of the REST contract (separate from the ORM). Field names are a contract."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from pipeline.errors import InvalidInput
from pipeline.json_numbers import canonical_value
from pipeline.lifecycle.machine import Trigger


def _no_control_characters(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("must not contain control characters (不得包含控制字符)")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):  # a lone surrogate cannot be stored as UTF-8
        raise ValueError("must not contain unpaired surrogates (不得包含无效的 Unicode 代理字符)")
    return value


class NestedValueError(ValueError):
    """A refusal of a value inside a JSON field; ``path`` names it below the field (``amount``, ``a[0].b``),
    and the problem's ``errors[].field`` says ``field.path``."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _clean_json(value: Any, path: str = "") -> Any:
    if isinstance(value, str):
        return _no_control_characters(value)
    if isinstance(value, dict):
        return {_no_control_characters(str(k)): _clean_json(v, f"{path}.{k}" if path else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Numbers in the one form both databases and every language give back (the hash chain needs it).
        try:
            return canonical_value(value, path or "value")
        except InvalidInput as exc:
            raise NestedValueError(exc.detail, path) from None
    return value


def _iso_date(value: Any) -> Any:
    """Dates are ``YYYY-MM-DD`` text: pydantic's lax mode would also read ``0`` as 1970-01-01."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date YYYY-MM-DD (日期格式应为 YYYY-MM-DD)")
    if not isinstance(value, str | dt.date) or isinstance(value, dt.datetime):
        raise ValueError("must be a date YYYY-MM-DD (日期格式应为 YYYY-MM-DD)")
    return value


Text = Annotated[str, AfterValidator(_no_control_characters)]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]
#: Titles last a few years; a far-future end would overflow the date arithmetic of renewals and expiries.
LATEST_VALID_UNTIL = dt.date(2199, 12, 31)
TriggerName = Trigger


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


class EventOut(BaseModel):
    """An event exactly as hashed: run the README's recipe on these fields to check ``hash``."""

    uscc: str
    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    effective_date: str
    recorded_at: str
    actor: str
    reason_code: str | None
    reason: str | None
    evidence: dict[str, Any]
    rulebook_id: str
    rulebook_hash: str
    request_id: str | None
    prev_hash: str
    hash: str


class TransitionOut(BaseModel):
    enterprise: EnterpriseOut
    event: EventOut


class EnterprisePage(BaseModel):
    items: list[EnterpriseSummary]
    next_cursor: str | None


HashRecipes = Annotated[dict[str, Literal["jcs-1", "pyjson-1"]], Field(
    description="序号 → 封存该事件的哈希规则 — seq of each item → the recipe that sealed it (jcs-1: RFC 8785; "
                "pyjson-1: the original json.dumps recipe; see the README). Kept beside the items so that every "
                "item is exactly the hashed fields; a page of several firms ends early rather than name one seq "
                "with two recipes.")]


class HistoryOut(BaseModel):
    items: list[EventOut]
    hash_recipes: HashRecipes
    voided_by: dict[str, int] = Field(
        default_factory=dict,
        description="已作废事件 → 作废它的更正事件序号 — seq of each voided event → seq of the correction that "
                    "voided it. Kept beside the items so that every item is exactly the hashed fields.")


class StateOut(BaseModel):
    code: str
    label: str


class TriggerOut(BaseModel):
    trigger: str
    sources: list[str | None]
    destinations: list[str]


class MachineOut(BaseModel):
    rulebook_id: str
    rulebook_hash: str
    in_force_from: dt.date
    states: list[StateOut]
    triggers: list[TriggerOut]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    """``ok`` when the database answers and is migrated to the head revision; otherwise ``unavailable``."""

    status: Literal["ok", "unavailable"]
    revision: str | None = None
    head: str | None = None
    detail: str | None = None
