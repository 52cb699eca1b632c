"""The delivery queue: each subscription is fed from the change feed, in commit order, never skipping.

A subscription keeps its own feed cursor (:mod:`pipeline.history.feed`, read with the subscriber's jurisdiction);
:func:`feed` turns the events after it into deliveries and moves the cursor in the same short transaction, so an
event is queued exactly once. Event types: ``transition``, ``side_title`` (side-title grants and ends),
``amendment``, ``correction`` (a void; it cancels the awards of what it voids), ``award`` (the entitlements a
recognition derived, queued right after its transition; later changes of an entitlement — approved, paid,
cancelled, settled — and manual entitlements, queued in their own transaction) and ``loan`` — loans are
not firm events: a bank's loan changes are queued by :mod:`pipeline.credit.loans` in the loan's own
transaction, only for that bank's subscriptions. Deliveries of one subscription are sent in id order, one at a time.
Webhook 队列：按变更流（提交顺序）生成投递，不遗漏；贷款事件仅投递给放款银行自己的订阅。
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.awards import ledger as award_ledger
from pipeline.dates import utc_now
from pipeline.history import feed as change_feed
from pipeline.lifecycle.chain import event_document, format_timestamp
from pipeline.lifecycle.events import AMENDMENT, CORRECTION, SIDE_TITLE, TRANSITION
from pipeline.models import Entitlement, Event, Principal, WebhookDelivery, WebhookSubscription
from pipeline.principals.service import actor_of

EVENT_TYPES = ("transition", "side_title", "award", "loan", "amendment", "correction")
LIVE_STATUSES = ("active", "paused")
BATCH = 200


def event_type(event: Event) -> str:
    """The webhook type of a firm's event: its kind (``transition``, ``side_title``, ``amendment``,
    ``correction``)."""
    return event.kind if event.kind in (AMENDMENT, CORRECTION, SIDE_TITLE) else TRANSITION


def message(kind: str, data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The Standard Webhooks payload shape: ``{type, timestamp, data}``."""
    return {"type": kind, "timestamp": format_timestamp(now), "data": data}


def _queue(session: Session, subscription_id: int, kind: str, message_id: str, data: dict[str, Any],
           now: dt.datetime) -> None:
    session.add(WebhookDelivery(subscription_id=subscription_id, message_id=message_id, event_type=kind,
                                payload=message(kind, data, now), status="pending", attempts=0, next_attempt_at=now,
                                created_at=now, log=[]))


def enqueue_own(session: Session, principal_id: str, region_code: str, kind: str, message_id: str,
                data: dict[str, Any]) -> None:
    """Queue an event that belongs to one principal (a bank's loan) for that principal's subscriptions to it."""
    now = utc_now()
    for subscription in session.scalars(select(WebhookSubscription).where(
            WebhookSubscription.principal_id == principal_id, WebhookSubscription.status.in_(LIVE_STATUSES))):
        if kind in subscription.events:
            _queue(session, subscription.id, kind, message_id, data, now)


def catch_up(session: Session) -> list[WebhookSubscription]:
    """Lock every live subscription to ``award`` and queue what the change feed owes it now, so that an
    entitlement's later change (:func:`enqueue_award_change`, in the caller's transaction) follows its
    creation and every firm event before it. Returns those subscriptions, locked."""
    subscriptions = [subscription for subscription in session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.status.in_(LIVE_STATUSES))
        .order_by(WebhookSubscription.id).with_for_update()) if "award" in subscription.events]
    for subscription in subscriptions:
        while feed(session, subscription) == BATCH:
            pass
    return subscriptions


def enqueue_award_change(session: Session, subscriptions: list[WebhookSubscription], entitlement: Entitlement,
                         action: str) -> None:
    """Queue a change of an entitlement that is not a firm event — approved, paid, cancelled, settled, a manual
    entitlement — for the subscriptions (from :func:`catch_up`) whose principal's jurisdiction covers the firm."""
    now = utc_now()
    data = {**award_ledger.view(entitlement), "action": action, "record_seq": entitlement.last_seq}
    for subscription in subscriptions:
        actor = subscriber(session, subscription)
        if actor is not None and actor.covers(entitlement.region_code):
            _queue(session, subscription.id, "award", f"award_{entitlement.id}_{entitlement.last_seq}", data, now)


def feed_head(session: Session) -> change_feed.Cursor:
    """A cursor after every event already committed: where a new subscription starts (events in transactions
    still running are after it, so they are not skipped)."""
    if session.get_bind().dialect.name == "postgresql":
        horizon: ColumnElement[int] = literal_column(f"({change_feed.HORIZON_SQL})")
        row = session.execute(select(Event.tx_id, Event.id).where(Event.tx_id < horizon)
                              .order_by(Event.tx_id.desc(), Event.id.desc()).limit(1)).first()
        return change_feed.Cursor(-1, 0) if row is None else change_feed.Cursor(int(row[0] or -1), int(row[1]))
    last = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    return change_feed.Cursor(-1, int(last or 0))


def subscriber(session: Session, subscription: WebhookSubscription) -> Actor | None:
    principal = session.get(Principal, subscription.principal_id)
    return None if principal is None or principal.revoked_at is not None else actor_of(principal)


def feed(session: Session, subscription: WebhookSubscription, limit: int = BATCH) -> int:
    """Queue the subscription's next feed events (in its principal's jurisdiction); returns how many were read.
    The caller commits (a short transaction per batch)."""
    actor = subscriber(session, subscription)
    if actor is None:
        return 0
    events, cursor = change_feed.page(session, actor, change_feed.Cursor(subscription.feed_tx_id,
                                                                         subscription.feed_id), limit)
    now = utc_now()
    wanted = set(subscription.events)
    for event in events:
        kind = event_type(event)
        if kind in wanted:
            _queue(session, subscription.id, kind, f"evt_{event.uscc}_{event.seq}",
                   {**event_document(event), "uscc": event.uscc}, now)
        if "award" in wanted and kind in (TRANSITION, SIDE_TITLE):  # what a recognition or side title earned
            for entitlement in session.scalars(select(Entitlement).where(
                    Entitlement.uscc == event.uscc, Entitlement.achievement_seq == event.seq)
                    .order_by(Entitlement.id)):
                created = award_ledger.first_record(session, entitlement.id)  # as created, whatever came later
                _queue(session, subscription.id, "award", f"award_{entitlement.id}",
                       {**{key: created.details[key] for key in award_ledger.view(entitlement)}, "action": "create",
                        "record_seq": 1}, now)
    subscription.feed_tx_id, subscription.feed_id = cursor.tx_id, cursor.id
    session.flush()
    return len(events)


@dataclass(frozen=True)
class Backlog:
    """What ``/metrics`` reports of the webhooks: deliveries not yet made, the age in seconds of the oldest,
    and subscriptions paused after a day of failures."""

    pending: int
    oldest_age_seconds: float
    paused: int


def backlog(session: Session) -> Backlog:
    pending, oldest = session.execute(select(func.count(), func.min(WebhookDelivery.created_at))
                                      .where(WebhookDelivery.status == "pending")).one()
    paused = session.scalar(select(func.count()).select_from(WebhookSubscription)
                            .where(WebhookSubscription.status == "paused"))
    return Backlog(int(pending), (utc_now() - oldest).total_seconds() if oldest is not None else 0.0,
                   int(paused or 0))
