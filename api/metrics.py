"""The Prometheus metrics, all named ``pipeline_…`` (see :mod:`api.observability` for how they are served).

Under ``pipeline serve`` ``PROMETHEUS_MULTIPROC_DIR`` is set before any worker imports this module, so
prometheus-client keeps each worker's values in a file there and a scrape adds them up.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from sqlalchemy.orm import Session

from pipeline.history import feed
from pipeline.webhooks import queue

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("pipeline_http_requests_total", "HTTP requests answered, by route template and status",
                   ("method", "route", "status"))
LATENCY = Histogram("pipeline_http_request_duration_seconds", "Time to answer an HTTP request, by route template",
                    ("method", "route"),
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
TRANSITIONS = Counter("pipeline_events_total", "Events committed through the API, by kind and trigger "
                      "(transitions, amendments, corrections)", ("kind", "trigger"))
REFUSALS = Counter("pipeline_refusals_total", "Requests refused by a domain rule, by problem type and rule "
                   "(the guard, the permission, or the problem type when no finer rule applies)", ("type", "rule"))
LOCK_WAITS = Counter("pipeline_write_lock_waits_total", "Enrolments, transitions and edits that found a lock held "
                     "past their event loop's lock timeout and ran again on a worker thread, waiting for it")
POOL = Gauge("pipeline_db_pool_connections", "Database connections of the API's pool, by state",
             ("state",), multiprocess_mode="livesum")


def count_refusal(slug: str, extra: dict[str, Any]) -> None:
    """Called by the problem mapping for every domain refusal."""
    REFUSALS.labels(slug, str(extra.get("guard") or extra.get("rule") or slug)).inc()


def registry() -> CollectorRegistry:
    """What a scrape reports: every worker's files under ``pipeline serve``, else this process's metrics."""
    if os.environ.get(MULTIPROC_ENV):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return combined
    return REGISTRY


def scrape_time_metrics(session: Session) -> CollectorRegistry:
    """Gauges read from the database when scraped (the same for every worker, so not kept per process)."""
    scraped = CollectorRegistry()
    lag = feed.lag(session)
    Gauge("pipeline_feed_held_back_events", "Committed events the change feed does not release yet: a "
          "transaction older than theirs is still running (PostgreSQL; 0 on SQLite)",
          registry=scraped).set(lag.held_back)
    Gauge("pipeline_feed_lag_seconds", "Age of the oldest committed event the change feed holds back (0 when "
          "none): how far followers trail the register", registry=scraped).set(lag.oldest_age_seconds)
    webhooks = queue.backlog(session)
    Gauge("pipeline_webhook_backlog_deliveries", "Webhook deliveries not yet made (to send, or being retried)",
          registry=scraped).set(webhooks.pending)
    Gauge("pipeline_webhook_oldest_pending_seconds", "Age of the oldest webhook delivery not yet made (0 when "
          "none)", registry=scraped).set(webhooks.oldest_age_seconds)
    Gauge("pipeline_webhook_paused_subscriptions", "Webhook subscriptions paused after a day of failures (a "
          "retry resumes them)", registry=scraped).set(webhooks.paused)
    return scraped
