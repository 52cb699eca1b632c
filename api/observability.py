"""Operators' view of the API: Prometheus metrics at ``/metrics`` and one log line per request.

Metrics (all named ``pipeline_…``) are prometheus-client's. Under ``pipeline serve`` every worker writes
them to ``PROMETHEUS_MULTIPROC_DIR`` (the command creates and clears it), and a scrape of any worker adds
up all of them; without that variable (tests, a bare ``uvicorn``) they live in the process. ``/metrics``
is on the API port for auditor and admin tokens; other principals get 403, no token 401. Scrapes are not
recorded in the auditors' read log.

The request log line carries the request id, the principal, method, route template, status and duration,
as JSON (``PIPELINE_LOG_FORMAT=json``, for log shippers) or as text (the default, for development).
Both are recorded by one plain ASGI middleware after the response is sent: a few microseconds per request.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import LATENCY, POOL, REQUESTS, TRANSITIONS, registry, scrape_time_metrics
from api.problems import ProblemError
from pipeline.firms.repository import WRITTEN_EVENTS
from pipeline.models import Event
from pipeline.principals.service import authenticate

LOG_FORMAT_ENV = "PIPELINE_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
METRICS_ROLES = ("auditor", "admin")

request_log = logging.getLogger("pipeline.request")


class ObservabilityMiddleware:
    """Counts, times and logs each HTTP request once its response has been sent."""

    def __init__(self, app: ASGIApp, pools: tuple[Any, ...]) -> None:
        self.app = app
        self.pools = tuple(pool for pool in pools if getattr(pool, "checkedout", None) is not None)
        # Labelled children are looked up once per (method, route, status) and kept: prometheus-client's
        # labels() checks and locks at every call. The pool gauges are written when they change (each write is
        # a store into the multiprocess file).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}
        self._pool_use = (-1, -1)
        self._pool_gauges = (POOL.labels("checked_out"), POOL.labels("idle"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "(unmatched)"
        method = scope["method"]
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[method, route, status] = REQUESTS.labels(method, route, str(status))
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[method, route] = LATENCY.labels(method, route)
        histogram.observe(seconds)
        if self.pools:
            use = (sum(pool.checkedout() for pool in self.pools), sum(pool.checkedin() for pool in self.pools))
            if use != self._pool_use:
                self._pool_use = use
                for gauge, value in zip(self._pool_gauges, use, strict=True):
                    gauge.set(value)
        if request_log.isEnabledFor(logging.INFO):
            state = scope.get("state", {})
            actor = state.get("actor")
            fields = {"request_id": state.get("request_id"), "principal": getattr(actor, "id", None),
                      "method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 2)}
            # the record made here (neither format shows its source line): Logger.info would walk the stack to
            # find its caller, which is always this method
            request_log.handle(request_log.makeRecord(request_log.name, logging.INFO, __file__, 0, "request", (),
                                                      None, "_record", {"fields": fields}))


def _count_committed_events(factory: sessionmaker[Session]) -> None:
    """Events are counted when their transaction commits, whichever route wrote them."""

    @event.listens_for(factory, "after_flush")
    def _collect(session: Session, _context: Any) -> None:
        new = [(e.kind, e.trigger or e.kind) for e in session.new if isinstance(e, Event)]
        if new:
            session.info.setdefault(WRITTEN_EVENTS, []).extend(new)

    @event.listens_for(factory, "after_commit")
    def _count(session: Session) -> None:
        for kind, trigger in session.info.pop(WRITTEN_EVENTS, ()):
            TRANSITIONS.labels(kind, trigger).inc()

    @event.listens_for(factory, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(WRITTEN_EVENTS, None)


def install(app: FastAPI) -> None:
    engines = {app.state.engine, app.state.write_engine, app.state.quick_write_engine} - {None}  # one on SQLite
    app.add_middleware(ObservabilityMiddleware, pools=tuple(engine.pool for engine in engines))
    for factory in {app.state.session_factory, app.state.write_session_factory,
                    app.state.quick_write_session_factory} - {None}:
        _count_committed_events(factory)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ProblemError("unauthorized", "需要 Authorization: Bearer <token> — /metrics needs an auditor's or "
                               "an admin's token", headers={"WWW-Authenticate": "Bearer"})
        factory: sessionmaker[Session] = request.app.state.session_factory
        with factory() as session:
            actor = authenticate(session, token.strip())
        if actor is None:
            raise ProblemError("unauthorized", "令牌无效或已吊销 — the bearer token is unknown or revoked",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        request.state.actor = actor
        if actor.role not in METRICS_ROLES:
            raise ProblemError("forbidden", f"仅审计人员和管理员可查看指标 — /metrics is for auditors and admins, "
                               f"not {actor.role}")
        with factory() as session:
            scraped = scrape_time_metrics(session)
        return Response(generate_latest(registry()) + generate_latest(scraped), media_type=CONTENT_TYPE_LATEST)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "logger": record.name, "message": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if fields is None:
            return super().format(record)
        return (f"{self.formatTime(record, '%H:%M:%S')} {fields['request_id']} {fields['principal'] or '-'} "
                f"{fields['method']} {fields['route']} {fields['status']} {fields['duration_ms']} ms")


def configure_logging(log_format: str | None = None) -> None:
    """One handler on stderr for the ``pipeline`` loggers, in ``PIPELINE_LOG_FORMAT`` (``text`` by default)."""
    chosen = log_format or os.environ.get(LOG_FORMAT_ENV) or "text"
    if chosen not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV} must be one of {', '.join(LOG_FORMATS)}, not {chosen!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if chosen == "json" else
                         _TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("pipeline")
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
