"""/api/v1/webhooks — integrators' signed webhooks (Standard Webhooks): subscribe, read deliveries, retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import CurrentActor, RequestId, SessionDep, StrictQueryRoute
from api.idempotency import IdempotencyDep
from api.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from api.presenters import ModelResponse
from api.responses import problems
from api.schemas.webhooks import (
    WebhookCreatedOut,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from pipeline.webhooks import subscriptions

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks 事件推送"], route_class=StrictQueryRoute)
SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="订阅 id")]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="投递 id")]


@router.post(
    "", status_code=201, response_model=WebhookCreatedOut, summary="订阅事件推送 Subscribe",
    responses=problems(401, 403, 422),
    description="接入系统或管理员订阅事件（transition, side_title, award, loan, amendment, correction）；签名密钥只在此"
                "显示一次。Deliveries follow the Standard Webhooks spec (`webhook-id`, `webhook-timestamp`, "
                "`webhook-signature`), in commit order, at least once; only firms in your jurisdiction, and `loan` "
                "events only for your own loans. Targets: https, or http to hosts in PIPELINE_WEBHOOK_ALLOW_HOSTS.",
)
async def post_webhook(payload: WebhookIn, session: SessionDep, actor: CurrentActor, idem: IdempotencyDep,
                       request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    created = subscriptions.subscribe(session, actor, payload.url, payload.events, request_id=request_id)
    body = WebhookCreatedOut(**subscriptions.view(created.subscription), secret=created.secret)
    return idem.finish(session, ModelResponse(body, status_code=201))


@router.get("", response_model=WebhookList, summary="我的订阅 Your subscriptions", responses=problems(401))
def list_webhooks(session: SessionDep, actor: CurrentActor) -> WebhookList:
    return WebhookList(items=[WebhookOut(**subscriptions.view(s)) for s in subscriptions.mine(session, actor)])


@router.get("/{subscription_id}", response_model=WebhookOut, summary="订阅 One subscription",
            responses=problems(401, 404, 422))
def get_webhook(subscription_id: SubscriptionId, session: SessionDep, actor: CurrentActor) -> WebhookOut:
    return WebhookOut(**subscriptions.view(subscriptions.get(session, subscription_id, actor)))


@router.get(
    "/{subscription_id}/deliveries", response_model=WebhookDeliveryPage, summary="投递记录 Deliveries",
    responses=problems(401, 404, 422),
    description="每条投递的各次尝试（时间、状态码、响应或错误）。Every delivery with its attempts and responses.",
)
def list_deliveries(subscription_id: SubscriptionId, session: SessionDep, actor: CurrentActor, limit: Limit = 100,
                    cursor: CursorParam = None) -> WebhookDeliveryPage:
    found, more = subscriptions.deliveries(session, subscription_id, actor,
                                           after_id=decode_cursor(cursor) if cursor else 0, limit=limit)
    return WebhookDeliveryPage(items=[WebhookDeliveryOut(**subscriptions.delivery_view(d)) for d in found],
                               next_cursor=encode_cursor(found[-1].id) if more and found else None)


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/retry", response_model=WebhookDeliveryOut,
    summary="立即重试 Retry a delivery now", responses=problems(401, 404, 422),
    description="立即重试未送达的投递；已暂停的订阅随之恢复，并从最早的未送达投递起按序发送。Retries a pending "
                "delivery now and resumes a paused subscription, in order from its oldest pending delivery.",
)
async def retry_delivery(subscription_id: SubscriptionId, delivery_id: DeliveryId, session: SessionDep,
                         actor: CurrentActor, idem: IdempotencyDep, request_id: RequestId) -> JSONResponse:
    if (replay := idem.begin(session, actor)) is not None:
        return replay  # type: ignore[return-value]
    delivery = subscriptions.retry(session, subscription_id, delivery_id, actor, request_id=request_id)
    return idem.finish(session, ModelResponse(WebhookDeliveryOut(**subscriptions.delivery_view(delivery))))
