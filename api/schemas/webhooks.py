"""Request and response bodies of /api/v1/webhooks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["transition", "side_title", "award", "loan", "amendment", "correction"]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "url": "https://bank.example.cn/hooks/pipeline", "events": ["transition", "loan"]}]})

    url: str = Field(min_length=8, max_length=2000,
                     description="https，或 PIPELINE_WEBHOOK_ALLOW_HOSTS 所列主机的 http — the target")
    events: list[EventType] = Field(min_length=1, max_length=6)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    status: Literal["active", "paused"]
    created_at: str
    paused_at: str | None


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="签名密钥，仅此一次显示 — the signing secret (whsec_…), shown only now")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookAttemptOut(BaseModel):
    at: str
    status_code: int | None
    response: str | None = None
    error: str | None = None


class WebhookDeliveryOut(BaseModel):
    id: int
    message_id: str = Field(description="webhook-id 头，各次重试相同 — the same on every attempt")
    event_type: str
    status: Literal["pending", "delivered"]
    attempts: int
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    attempt_log: list[WebhookAttemptOut]
    payload: dict[str, Any]


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryOut]
    next_cursor: str | None
