"""Liveness and readiness, without a token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pipeline.migrate import current_revision, head_revision

router = APIRouter(tags=["health 健康检查"])


@router.get("/healthz", summary="进程存活 Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="就绪 Readiness: database reachable and migrated to head",
            responses={503: {"description": "database unreachable or not at the head revision"}})
def readyz(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    head = head_revision()
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        return JSONResponse({"status": "unavailable", "detail": f"database unreachable: {type(exc).__name__}"},
                            status_code=503)
    ready = current == head
    return JSONResponse({"status": "ok" if ready else "unavailable", "revision": current, "head": head},
                        status_code=200 if ready else 503)
