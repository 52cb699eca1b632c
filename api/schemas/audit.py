"""Request and response models of the audit, point-in-time and feed routes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.schemas.common import EventOut, HashRecipes, Text
from pipeline.errors import InvalidInput

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")


def _aware_timestamp(value: Any) -> Any:
    """RFC 3339 with a zone only: pydantic's lax mode would read ``0.5`` as 1970 and a naive time as local."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with a zone, e.g. 2026-01-01T00:00:00Z (须为带时区的时间)")
    return value


AwareTimestamp = Annotated[dt.datetime, BeforeValidator(_aware_timestamp)]


def as_utc(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """An :data:`AwareTimestamp` (it always has a zone) in UTC; one whose UTC time is out of range → 422."""
    if value is None:
        return None
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(f"{field} 超出范围 — {field} is out of range", field=field) from None


class TitleAtOut(BaseModel):
    tier: str
    tier_label: str
    recognized_on: dt.date
    valid_until: dt.date
    document_no: str | None
    batch: str | None


class FirmStateOut(BaseModel):
    """某日的企业状态（按某时刻已记录的事件） — the firm on a date, as recorded by a time."""

    uscc: str
    as_of: dt.date
    known_at: dt.datetime | None = Field(description="null = now")
    state: str | None = Field(description="null: not yet enrolled on that date (as recorded by then)")
    state_label: str | None
    barred_until: dt.date | None
    titles: list[TitleAtOut] = Field(description="titles valid on as_of")
    events_considered: int = Field(description="events recorded by known_at (voided ones included)")


class RosterItem(BaseModel):
    uscc: str
    name: str
    region_code: str
    highest_tier: str
    titles: list[TitleAtOut]


class RosterPage(BaseModel):
    as_of: dt.date
    known_at: dt.datetime | None
    source: str = Field(description="recognitions (known_at = now) or replay (a past known_at)")
    items: list[RosterItem]
    next_cursor: str | None


class RegionCountOut(BaseModel):
    region_code: str
    level: str = Field(description="province, city or district")
    states: dict[str, int] = Field(description="firms per state on as_of")
    titles: dict[str, int] = Field(description="firms holding each title on as_of")
    side_titles: dict[str, int] = Field(description="firms holding each side-title kind (单项冠军, 高新技术企业 …) "
                                                    "on as_of")


class CountsOut(BaseModel):
    as_of: dt.date
    region: str | None
    levels: list[RegionCountOut]


class VoidRequest(BaseModel):
    """作废最近一次事件 — void the firm's latest event with a correction."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "reason": "误录：认定文号属于另一家企业",
    }]})

    reason: Annotated[Text, Field(min_length=1, max_length=2000, description="作废理由 — why the event is void")]


class ProblemItem(BaseModel):
    uscc: str
    seq: int
    problem: str


class WarningItem(BaseModel):
    uscc: str
    seq: int
    warning: str = Field(description="number-form-rewritten or recorded-at-decreased")
    detail: str


class VerifyOut(BaseModel):
    ok: bool = Field(description="no problems (warnings do not count)")
    firms_checked: int
    events_checked: int
    problems: list[ProblemItem]
    warnings: list[WarningItem] = Field(
        default_factory=list, description="not evidence of tampering: numbers PostgreSQL rewrote in events sealed "
                                          "with pyjson-1, decreases of recorded_at recorded before writers kept it "
                                          "increasing")


class AnchorCreate(BaseModel):
    """生成链头锚点 — anchor every chain head now."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "2026年第四季度审计交付"}]})

    note: Annotated[Text, Field(max_length=2000)] | None = None


class AnchorSigned(BaseModel):
    """Exactly what the signature covers; its RFC 8785 form is the signed message."""

    id: int
    digest: str
    firms: int
    events: int
    created_at: str = Field(description="YYYY-MM-DDTHH:MM:SS.ffffffZ")


class AnchorOut(BaseModel):
    id: int
    digest: str = Field(description="sha256 over 'uscc,seq,hash\\n' of every head, sorted by uscc")
    firms: int
    events: int
    created_at: dt.datetime
    actor: str
    note: str | None
    signature: str | None = Field(description="Ed25519 over the RFC 8785 form of `signed`, base64; null for an "
                                              "anchor made before anchors were signed")
    public_key_id: str | None = Field(description="first 16 hex digits of sha256 of the signing key's raw public "
                                                  "bytes")
    signature_algorithm: str | None = Field(description="`Ed25519` when signed")
    signed: AnchorSigned | None = Field(description="the signed fields, as signed")


class AnchorList(BaseModel):
    items: list[AnchorOut]


class AnchorVerifyOut(BaseModel):
    anchor: AnchorOut
    ok: bool
    recomputed_digest: str
    firms_checked: int
    events_checked: int
    problems: list[ProblemItem]


class AuditEventPage(BaseModel):
    items: list[EventOut]
    hash_recipes: HashRecipes
    next_cursor: str | None


class AuditReadOut(BaseModel):
    id: int
    actor: str
    route: str
    uscc: str | None
    query: str | None
    request_id: str | None
    read_at: dt.datetime


class AuditReadPage(BaseModel):
    items: list[AuditReadOut]
    next_cursor: str | None


class FeedPage(BaseModel):
    items: list[EventOut]
    hash_recipes: HashRecipes
    next_cursor: str = Field(description="pass as `after` next time; unchanged when there was nothing new")
