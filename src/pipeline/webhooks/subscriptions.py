"""Subscribing to webhooks, reading deliveries, and retrying one (which resumes a paused subscription).

Integrators and admins subscribe; each sees only its own subscriptions. A subscription's changes (made,
paused, resumed) are sealed in its principal's record chain (``chain_records``: chain ``webhooks``).
订阅：接入系统与管理员可订阅；签名密钥仅在创建时显示一次。
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.errors import Forbidden, InvalidInput, NotFound
from pipeline.history import ledger
from pipeline.lifecycle.chain import format_timestamp
from pipeline.models import Principal, WebhookDelivery, WebhookSubscription
from pipeline.webhooks.queue import EVENT_TYPES, feed_head

CHAIN = "webhooks"
SUBSCRIBERS = ("integrator", "admin")
ALLOW_HOSTS_ENV = "PIPELINE_WEBHOOK_ALLOW_HOSTS"


def allowed_http_hosts() -> tuple[str, ...]:
    """Hosts a plain-http target may name (``PIPELINE_WEBHOOK_ALLOW_HOSTS``, comma-separated); others need https."""
    return tuple(h.strip().lower() for h in os.environ.get(ALLOW_HOSTS_ENV, "").split(",") if h.strip())


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http") or parts.username or parts.password:
        raise InvalidInput("url 应为 https:// 地址（不含用户名口令） — url must be an https URL without credentials",
                           field="url")
    if parts.scheme == "http" and host not in allowed_http_hosts():
        raise InvalidInput(f"仅允许 https；http 只能发往 {ALLOW_HOSTS_ENV} 所列主机 — http is allowed only to hosts in "
                           f"{ALLOW_HOSTS_ENV}, not {host}", field="url")
    return url.strip()


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_TYPES]
    if not events or unknown:
        raise InvalidInput(f"事件类型应取自 {', '.join(EVENT_TYPES)} — events must be a non-empty list of "
                           f"{', '.join(EVENT_TYPES)}; unknown: {', '.join(unknown) or '(empty)'}", field="events")
    return list(dict.fromkeys(events))


def view(subscription: WebhookSubscription) -> dict[str, Any]:
    return {"id": subscription.id, "url": subscription.url, "events": list(subscription.events),
            "status": subscription.status, "created_at": format_timestamp(subscription.created_at),
            "paused_at": format_timestamp(subscription.paused_at) if subscription.paused_at else None}


def seal(session: Session, subscription: WebhookSubscription, action: str, actor: str,
         request_id: str | None = None) -> None:
    session.execute(select(Principal.id).where(Principal.id == subscription.principal_id).with_for_update()).first()
    ledger.append(session, CHAIN, subscription.principal_id, action, view(subscription), actor=actor,
                  request_id=request_id)


@dataclass(frozen=True)
class Created:
    subscription: WebhookSubscription
    secret: str


def subscribe(session: Session, actor: Actor, url: str, events: Sequence[str], *,
              request_id: str | None = None) -> Created:
    if actor.role not in SUBSCRIBERS:
        raise Forbidden(f"只有接入系统和管理员可订阅 — only integrators and admins subscribe, not {actor.role}",
                        rule="webhook_subscribers", action="subscribe_webhook")
    target, kinds = check_url(url), _check_events(events)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    cursor = feed_head(session)  # events from now on: those committed after this one's snapshot included
    subscription = WebhookSubscription(principal_id=actor.id, url=target, events=kinds, secret=secret,
                                       status="active", feed_tx_id=cursor.tx_id, feed_id=cursor.id,
                                       created_at=utc_now())
    session.add(subscription)
    session.flush()
    seal(session, subscription, "subscribe", actor.id, request_id)
    return Created(subscription, secret)


def get(session: Session, subscription_id: int, actor: Actor) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.principal_id != actor.id:
        raise NotFound(f"未找到订阅{subscription_id} — no webhook subscription {subscription_id} of yours")
    return subscription


def mine(session: Session, actor: Actor) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.principal_id == actor.id)
                                .order_by(WebhookSubscription.id)))


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {"id": delivery.id, "message_id": delivery.message_id, "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts,
            "next_attempt_at": format_timestamp(delivery.next_attempt_at) if delivery.status == "pending" else None,
            "created_at": format_timestamp(delivery.created_at),
            "delivered_at": format_timestamp(delivery.delivered_at) if delivery.delivered_at else None,
            "attempt_log": list(delivery.log), "payload": delivery.payload}


def deliveries(session: Session, subscription_id: int, actor: Actor, *, after_id: int = 0,
               limit: int = 100) -> tuple[list[WebhookDelivery], bool]:
    subscription = get(session, subscription_id, actor)
    found = list(session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == subscription.id, WebhookDelivery.id > after_id)
        .order_by(WebhookDelivery.id).limit(limit + 1)))
    return found[:limit], len(found) > limit


def retry(session: Session, subscription_id: int, delivery_id: int, actor: Actor, *,
          request_id: str | None = None) -> WebhookDelivery:
    """Try a pending delivery again now (a fresh day of retries) and resume the subscription if it was paused:
    its deliveries then go out in order from the oldest pending one."""
    subscription = get(session, subscription_id, actor)
    delivery = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription.id)
        .with_for_update()).one_or_none()
    if delivery is None:
        raise NotFound(f"未找到投递{delivery_id} — no delivery {delivery_id} in subscription {subscription_id}")
    if delivery.status == "delivered":
        raise InvalidInput(f"投递{delivery_id}已送达，无需重试 — delivery {delivery_id} was already delivered",
                           field="delivery_id")
    now = utc_now()
    delivery.next_attempt_at, delivery.failing_since = now, None
    if subscription.status != "active":
        subscription.status, subscription.paused_at = "active", None
        seal(session, subscription, "resume", actor.id, request_id)
    session.flush()
    return delivery
