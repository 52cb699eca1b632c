"""The FastAPI application: routers, problem handlers, request ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api import problems
from api.console import routes as console
from api.routers import audit, dynamic, enterprises, health, imports, machine, timetravel
from pipeline import __version__
from pipeline.config import Settings
from pipeline.db import make_engine, make_session_factory

DESCRIPTION = """
专精特新企业梯度培育系统 API — the system of record for the tiered cultivation of 专精特新 SMEs.

* 认证 Authentication: `Authorization: Bearer <token>` (tokens from `pipeline principal add`).
* 错误 Errors: RFC 9457 `application/problem+json`; `type` ends in a stable slug (see `/problems/{slug}`).
* 并发 Concurrency: `If-Match: <version>` on writes; `Idempotency-Key` on every POST and PATCH.
"""


def create_app(database_url: str | None = None) -> FastAPI:
    url = database_url or Settings.from_env().database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.engine.dispose()

    app = FastAPI(title="专精特新 Pipeline API", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.engine = make_engine(url)
    app.state.session_factory = make_session_factory(app.state.engine)
    problems.install(app)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        incoming = request.headers.get("x-request-id", "")
        request.state.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() \
            else uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    for router in (health.router, enterprises.router, machine.router, console.router, timetravel.router, audit.router,
                   dynamic.router, imports.router):
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=console.STATIC_DIR), name="console-static")

    @app.get("/problems/{slug}", include_in_schema=False)
    def problem_type(slug: str) -> JSONResponse:
        if slug not in problems.PROBLEM_TYPES:
            return problems.problem_response("not-found", f"no problem type {slug!r}")
        status, title, meaning = problems.PROBLEM_TYPES[slug]
        return JSONResponse({"type": problems.PROBLEM_BASE + slug, "status": status, "title": title,
                             "meaning": meaning})

    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory for `pipeline serve` (each worker builds its own engine)."""
    return create_app()
