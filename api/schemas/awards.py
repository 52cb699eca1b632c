"""Request and response bodies of /api/v1/awards."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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
