"""The FastAPI application: routers, problem handlers, request ids."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import deps, docs, observability, openapi, problems, replica
from api.console import routes as console
from api.guard import InputGuardMiddleware
from api.routers import (
    audit,
    awards,
    credit,
    dynamic,
    eligibility,
    enterprises,
    health,
    imports,
    machine,
    policies,
    rounds,
    side_titles,
    targets,
    timetravel,
    webhooks,
)
from pipeline import __version__
from pipeline.config import Settings
from pipeline.db import make_engine, make_session_factory
from pipeline.principals.cache import PrincipalCache
from pipeline.webhooks import delivery

DESCRIPTION = """
专精特新企业梯度培育系统 API — the system of record for the tiered cultivation of 专精特新 SMEs.

* 认证 Authentication: `Authorization: Bearer <token>` (tokens from `pipeline principal add`).
* 错误 Errors: RFC 9457 `application/problem+json`; `type` ends in a stable slug (see `/problems/{slug}`).
* 并发 Concurrency: `If-Match: <version>` on writes; `Idempotency-Key` on every POST and PATCH.
"""

NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's native OpenTelemetry stays off: operators get Prometheus metrics at ``/metrics`` and one log line
per request (:mod:`api.observability`). Left on, FastAPI asks OpenTelemetry at every request whether a provider
was configured (environment lookups: about 3 % of a write's CPU, measured with py-spy under ``bench/api_load.py``)."""


class RequestIdMiddleware:
    """Give every request an id (the caller's ``X-Request-ID`` if sane), stored on events and echoed back.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware wraps every
    response in an extra task and stream, which measured about 0.5 ms per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(database_url: str | None = None, *, read_database_url: str | None = None,
               deliver_webhooks: bool = False) -> FastAPI:
    """The app; ``deliver_webhooks`` runs the webhook delivery worker beside it (``pipeline serve``)."""
    settings = Settings.from_env()
    url = database_url or settings.database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.principals.start()
        worker = delivery.start_thread(app.state.session_factory) if deliver_webhooks else None
        yield
        if worker is not None:
            thread, stop = worker
            stop.set()
            thread.join(timeout=10)
        app.state.principals.close()
        app.state.engine.dispose()
        if app.state.write_engine is not app.state.engine:
            app.state.write_engine.dispose()
        if app.state.quick_write_engine is not None:
            app.state.quick_write_engine.dispose()
        if getattr(app.state, "replica", None) is not None:
            app.state.replica.engine.dispose()

    app = FastAPI(title="专精特新 Pipeline API", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served by api.docs from local assets
                  telemetry=NO_OPENTELEMETRY)
    app.state.engine = make_engine(url)
    app.state.session_factory = make_session_factory(app.state.engine)
    # enroll, transitions and PATCH (api.deps.write_unit): the same few statements again and again, each
    # planned once per connection (generic plans) rather than at every run; everything else on the engine above.
    # On PostgreSQL a unit runs first on the event loop, on connections whose lock waits are cut short, and,
    # if a wait was cut short, again on a worker thread on the write engine, waiting as long as the lock is held
    postgres = app.state.engine.dialect.name == "postgresql"
    app.state.write_engine = make_engine(url, generic_plans=True) if postgres else app.state.engine
    app.state.write_session_factory = make_session_factory(app.state.write_engine)
    app.state.quick_write_engine = (make_engine(url, generic_plans=True, lock_wait_ms=deps.QUICK_LOCK_WAIT_MS)
                                    if postgres else None)
    app.state.quick_write_session_factory = (make_session_factory(app.state.quick_write_engine)
                                             if app.state.quick_write_engine is not None else None)
    app.state.principals = PrincipalCache(app.state.engine)
    problems.install(app)
    console.install_error_pages(app)
    openapi.install(app)
    docs.install(app)

    observability.install(app)
    app.add_middleware(InputGuardMiddleware, max_body_bytes=settings.max_json_body_bytes,
                       max_upload_bytes=settings.max_upload_bytes)
    if read_database_url or settings.read_database_url:
        replica.install(app, read_database_url or settings.read_database_url or "")
    app.add_middleware(RequestIdMiddleware)

    routers = (health, enterprises, side_titles, machine, timetravel, audit, dynamic, imports, eligibility, policies,
               awards, credit, webhooks, targets, rounds)
    app.mount("/console/static", StaticFiles(directory=console.STATIC_DIR), name="console-static")  # before the
    for router in (*(module.router for module in routers), console.router):  # console's page for unknown paths
        app.include_router(router)

    @app.get("/problems/{slug}", include_in_schema=False)
    def problem_type(slug: str) -> JSONResponse:
        if slug not in problems.PROBLEM_TYPES:
            return problems.problem_response("not-found", f"no problem type {slug!r}")
        status, title, meaning = problems.PROBLEM_TYPES[slug]
        return JSONResponse({"type": problems.PROBLEM_BASE + slug, "status": status, "title": title,
                             "meaning": meaning})

    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory for `pipeline serve` (each worker builds its own engine and its log handler)."""
    observability.configure_logging()
    return create_app(deliver_webhooks=os.environ.get("PIPELINE_WEBHOOK_WORKER", "1") != "0")
