"""Webhook subscriptions of integrators and their deliveries (Standard Webhooks)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, BigId, JsonDoc, UTCDateTime


class WebhookSubscription(Base):
    """Where to send which event types for one principal, and how far into the change feed it has been fed."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(40), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JsonDoc)
    secret: Mapped[str] = mapped_column(String(100))
    """The signing secret (``whsec_…``); shown once when the subscription is made."""
    status: Mapped[str] = mapped_column(String(16))
    """``active`` or ``paused`` (after a day of failures; a retry resumes it)."""
    feed_tx_id: Mapped[int] = mapped_column(BigInteger)
    feed_id: Mapped[int] = mapped_column(BigInteger)
    """The change-feed cursor up to which events have been queued as deliveries."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One message to one subscription; sent in id order per subscription, retried until it succeeds."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_subscription_id_status", "subscription_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(64))
    """``webhook-id``: the same on every attempt, so a receiver can drop a message it already has."""
    event_type: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16))
    """``pending`` (to send, or being retried) or ``delivered``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    """Every attempt: ``{at, status_code, error, response}`` (the response's first 500 characters)."""
