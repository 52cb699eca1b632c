"""Liveness and readiness, without a token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.schemas.health import HealthOut, ReadyOut
from pipeline.migrate import HEAD_REVISION, current_revision

router = APIRouter(tags=["health 健康检查"])


@router.get("/healthz", response_model=HealthOut, summary="进程存活 Liveness",
            description="进程在运行即返回 ok，不访问数据库。The process answers; the database is not consulted.")
def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, summary="就绪 Readiness",
            description="数据库可达且已迁移到最新版本时返回 200，否则 503。200 when the database is reachable and "
                        "migrated to the head revision; 503 otherwise (load balancers stop routing here).",
            responses={503: {"model": ReadyOut, "description": "database unreachable or not at the head revision"}})
def readyz(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    head = HEAD_REVISION  # the scripts, read at every probe, cost ~0.1 s; tests hold the two equal
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        body = ReadyOut(status="unavailable", head=head, detail=f"database unreachable: {type(exc).__name__}")
        return JSONResponse(body.model_dump(), status_code=503)
    ready = current == head
    body = ReadyOut(status="ok" if ready else "unavailable", revision=current, head=head,
                    detail=None if ready else f"database at revision {current}, head is {head}: run "
                                              f"`pipeline db upgrade`")
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
