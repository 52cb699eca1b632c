"""The delivery worker: signed POSTs (Standard Webhooks, the ``standardwebhooks`` package), retried with backoff.

Each pass feeds every subscription from the change feed (:func:`pipeline.webhooks.queue.feed`), then sends each
active subscription's oldest pending delivery, one at a time and in id order — a failing one holds the later
ones back, so a receiver gets every event in order. Transactions stay short: the delivery is read in one, the
HTTP request is made with no transaction open, the outcome is written in another. A process killed
mid-request leaves the delivery pending, and it is sent again (at least once; the ``webhook-id`` is the same).

Failures are retried after ``PIPELINE_WEBHOOK_RETRY_SCHEDULE`` (seconds, comma-separated; the last interval
repeats); when the oldest pending delivery has been failing for ``PIPELINE_WEBHOOK_PAUSE_AFTER`` seconds (a
day) the subscription pauses, and a retry of that delivery resumes it. Redirects are not followed (a 3xx is a
failure). On PostgreSQL one process at a time delivers (a session advisory lock); the others wait their turn.
投递：按订阅逐条、按序签名发送，失败按退避计划重试，连续失败一天后暂停。
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from pipeline.dates import utc_now
from pipeline.db import unit_of_work
from pipeline.lifecycle.chain import format_timestamp
from pipeline.models import WebhookDelivery, WebhookSubscription
from pipeline.webhooks import queue
from pipeline.webhooks.subscriptions import allowed_http_hosts, check_url, seal

log = logging.getLogger("pipeline.webhooks")

SCHEDULE_ENV = "PIPELINE_WEBHOOK_RETRY_SCHEDULE"
PAUSE_ENV = "PIPELINE_WEBHOOK_PAUSE_AFTER"
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
"""5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h — the Standard Webhooks suggestion."""
ADVISORY_LOCK_KEY = 0x57484B  # "WHK": one delivering process per PostgreSQL database
PER_PASS = 100
"""Deliveries sent to one subscription per pass before the next subscription gets its turn."""


@dataclass(frozen=True)
class DeliverySettings:
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    pause_after: float = 86400.0
    timeout: float = 10.0
    poll: float = 1.0

    @classmethod
    def from_env(cls) -> DeliverySettings:
        raw = os.environ.get(SCHEDULE_ENV, "").strip()
        schedule = tuple(float(part) for part in raw.split(",") if part.strip()) if raw else DEFAULT_SCHEDULE
        if not schedule or any(step < 0 for step in schedule):
            raise ValueError(f"{SCHEDULE_ENV}: comma-separated non-negative seconds, not {raw!r}")
        pause = float(os.environ.get(PAUSE_ENV, "").strip() or 86400)
        return cls(retry_schedule=schedule, pause_after=pause, poll=min(1.0, max(min(schedule), 0.05)))

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=self.retry_schedule[min(attempts, len(self.retry_schedule)) - 1])


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    subscription_id: int
    url: str
    secret: str
    message_id: str
    body: str


def signed_request(outgoing: Outgoing, now: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers for ``outgoing`` sent at ``now``."""
    signature = Webhook(outgoing.secret).sign(outgoing.message_id, now, outgoing.body)
    return {"webhook-id": outgoing.message_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature, "content-type": "application/json"}


def post(outgoing: Outgoing, timeout: float) -> tuple[int | None, str]:
    """Send one delivery; ``(status code or None, response or error text)``. Redirects are not followed."""
    import httpx  # here, not at the top: only a delivery needs it, and it cost every `pipeline` start 0.2 s

    now = utc_now()
    try:
        check_url(outgoing.url)  # the allow-list may have changed since the subscription was made
        response = httpx.post(outgoing.url, content=outgoing.body.encode("utf-8"),
                              headers=signed_request(outgoing, now), timeout=timeout, follow_redirects=False)
        return response.status_code, response.text[:500]
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


def _next(session: Session, subscription_id: int) -> Outgoing | None:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.status != "active" or queue.subscriber(session, subscription) is None:
        return None  # paused, or its principal was revoked
    delivery = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.id).limit(1)).first()
    if delivery is None or delivery.next_attempt_at > utc_now():
        return None
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return Outgoing(delivery.id, subscription_id, subscription.url, subscription.secret, delivery.message_id, body)


def _record(session: Session, outgoing: Outgoing, status: int | None, response: str,
            settings: DeliverySettings) -> bool:
    delivery = session.scalars(select(WebhookDelivery).where(WebhookDelivery.id == outgoing.delivery_id)
                               .with_for_update()).one()
    if delivery.status != "pending":
        return True  # another process delivered it meanwhile
    now = utc_now()
    ok = status is not None and 200 <= status < 300
    delivery.attempts += 1
    delivery.log = [*delivery.log, {"at": format_timestamp(now), "status_code": status,
                                    "response" if status is not None else "error": response}]
    if ok:
        delivery.status, delivery.delivered_at, delivery.failing_since = "delivered", now, None
        return True
    delivery.failing_since = delivery.failing_since or now
    delivery.next_attempt_at = now + settings.backoff(delivery.attempts)
    if (now - delivery.failing_since).total_seconds() >= settings.pause_after:
        subscription = session.get(WebhookSubscription, outgoing.subscription_id)
        if subscription is not None and subscription.status == "active":
            subscription.status, subscription.paused_at = "paused", now
            seal(session, subscription, "pause", "system")
            log.warning("webhook subscription %s paused after a day of failures", subscription.id)
    return False


def deliver_next(factory: sessionmaker[Session], subscription_id: int, settings: DeliverySettings) -> bool:
    """Send the subscription's oldest pending delivery if it is due; whether one was delivered."""
    with unit_of_work(factory) as session:
        outgoing = _next(session, subscription_id)
    if outgoing is None:
        return False
    status, response = post(outgoing, settings.timeout)
    with unit_of_work(factory) as session:
        return _record(session, outgoing, status, response, settings)


def feed_all(factory: sessionmaker[Session]) -> int:
    """Queue every subscription's new feed events (one short transaction per batch); how many were read."""
    with factory() as session:
        ids = list(session.scalars(select(WebhookSubscription.id).where(
            WebhookSubscription.status.in_(queue.LIVE_STATUSES)).order_by(WebhookSubscription.id)))
    total = 0
    for subscription_id in ids:
        while True:
            with unit_of_work(factory) as session:
                subscription = session.scalars(select(WebhookSubscription).where(
                    WebhookSubscription.id == subscription_id).with_for_update()).one()
                read = queue.feed(session, subscription)
            total += read
            if read < queue.BATCH:
                break
    return total


def deliver_pass(factory: sessionmaker[Session], settings: DeliverySettings) -> int:
    """One pass: feed, then send what is due; the number of deliveries made."""
    feed_all(factory)
    with factory() as session:
        ids = list(session.scalars(select(WebhookSubscription.id).where(WebhookSubscription.status == "active")
                                   .order_by(WebhookSubscription.id)))
    delivered = 0
    for subscription_id in ids:
        for _ in range(PER_PASS):
            if not deliver_next(factory, subscription_id, settings):
                break
            delivered += 1
    return delivered


def _take_lock(engine: Engine) -> Connection | None:
    """PostgreSQL: a connection holding the delivery lock, or ``None`` while another process holds it."""
    connection = engine.connect()
    if connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar():
        connection.commit()
        return connection
    connection.rollback()
    connection.close()
    return None


def _release(lock: Connection) -> None:
    """Unlock before the connection goes back to the pool (a session lock outlives a returned connection)."""
    try:
        lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
        lock.commit()
    except Exception:  # the connection is gone, and the lock with it: make sure the pool drops it too
        lock.invalidate()
    finally:
        lock.close()


def _still_held(lock: Connection) -> bool:
    try:
        lock.execute(text("SELECT 1"))
        lock.commit()
        return True
    except Exception:  # any failure means the connection (and so the lock) is gone
        lock.invalidate()
        lock.close()
        return False


def run(factory: sessionmaker[Session], stop: threading.Event, settings: DeliverySettings | None = None, *,
        once: bool = False) -> int:
    """Deliver until ``stop`` is set (or, with ``once``, until nothing more is due); deliveries made."""
    settings = settings or DeliverySettings.from_env()
    engine = factory.kw["bind"]
    lock: Connection | None = None
    postgres = engine.dialect.name == "postgresql"
    delivered = 0
    try:
        while not stop.is_set():
            if lock is not None and not _still_held(lock):
                lock = None  # the server dropped our connection, and the lock with it
            if postgres and lock is None:
                lock = _take_lock(engine)
                if lock is None:
                    if once:
                        return delivered
                    stop.wait(settings.poll)
                    continue
            try:
                made = deliver_pass(factory, settings)
            except Exception:  # a database hiccup must not end the worker inside `pipeline serve`
                if once:
                    raise
                log.exception("webhook delivery pass failed; retrying")
                made = 0
            delivered += made
            if once and made == 0:
                return delivered
            if made == 0:
                stop.wait(settings.poll)
        return delivered
    finally:
        if lock is not None:
            _release(lock)


def start_thread(factory: sessionmaker[Session]) -> tuple[threading.Thread, threading.Event]:
    """The worker inside ``pipeline serve``: a daemon thread, stopped by setting the returned event."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(factory, stop), name="webhook-delivery", daemon=True)
    thread.start()
    return thread, stop


__all__ = ["DeliverySettings", "allowed_http_hosts", "deliver_pass", "run", "signed_request", "start_thread"]


