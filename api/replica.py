"""Read-only traffic to a PostgreSQL streaming standby, without ever serving a client a read older than its
own write (``PIPELINE_READ_DATABASE_URL``).

Writes, idempotency, auditors' requests (they write the read log) and anything else go to the primary. A
read route that takes :data:`ReadSessionDep` (history, time travel, roster, counts, exports) goes to the
standby unless the read must see a write the standby has not replayed yet: the request names that write's
``X-Pipeline-LSN`` (every successful write returns it), or the same principal wrote through this process in
the last :data:`STICKY_SECONDS`. Then the standby is asked whether it has replayed that LSN (one short
query); if not, the primary answers. Standby answers carry ``X-Data-Replayed-At``, the commit time of the
last transaction the standby replayed. Across several API hosts only the header is exact: clients that must
read their own writes anywhere send it back.
只读流量分流到备库，且绝不让调用方读到早于其自身写入的数据。
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import CurrentActor, SessionDep
from pipeline.access import Actor
from pipeline.db import make_engine, make_session_factory
from pipeline.history import reads as audit_reads

STICKY_SECONDS = 30.0
LSN_HEADER = "x-pipeline-lsn"
REPLAYED_HEADER = "x-data-replayed-at"
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
_STATE_LSN = "pipeline_lsn"
_STATE_REPLAYED = "pipeline_replayed_at"


@dataclass
class ReplicaRouter:
    engine: Engine
    factory: sessionmaker[Session]
    last_write: dict[str, tuple[str, float]] = field(default_factory=dict)
    """principal → (LSN after its latest write through this process, when)"""

    @classmethod
    def from_url(cls, url: str) -> ReplicaRouter:
        engine = make_engine(url)
        return cls(engine, make_session_factory(engine))

    def wrote(self, actor_id: str, lsn: str) -> None:
        self.last_write[actor_id] = (lsn, time.monotonic())

    def required_lsn(self, request: Request, actor: Actor) -> str | None:
        given = request.headers.get(LSN_HEADER, "").strip()
        if given and _LSN.match(given):
            return given
        recent = self.last_write.get(actor.id)
        if recent is not None and time.monotonic() - recent[1] < STICKY_SECONDS:
            return recent[0]
        return None

    def replayed(self, session: Session, lsn: str | None) -> tuple[bool, Any]:
        """Whether the standby has replayed ``lsn`` (any, when ``None``), and its last replayed commit time."""
        row = session.execute(text(
            "SELECT CASE WHEN CAST(:lsn AS text) IS NULL THEN true "
            "ELSE pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn) END, pg_last_xact_replay_timestamp()"),
            {"lsn": lsn}).one()
        return bool(row[0]), row[1]


def install(app: Any, url: str) -> None:
    """Route reads to the standby at ``url``: keep the router on the app and record every write's LSN."""
    router = ReplicaRouter.from_url(url)
    app.state.replica = router

    def after_write_commit(request: Request, session: Session) -> None:
        """The primary's WAL position after this write committed: a standby that has replayed it sees it."""
        actor = getattr(request.state, "actor", None)
        if actor is None:
            return
        lsn = str(session.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar_one())
        router.wrote(actor.id, lsn)
        request.scope.setdefault("state", {})[_STATE_LSN] = lsn

    app.state.after_write_commit = after_write_commit
    app.add_middleware(ReplicaHeadersMiddleware)


def read_session(request: Request, primary: SessionDep, actor: CurrentActor) -> Iterator[Session]:
    """The session a read route uses: the standby's when it is safe, else the request's primary session."""
    router: ReplicaRouter | None = getattr(request.app.state, "replica", None)
    if router is None or actor.role in audit_reads.LOGGED_ROLES:  # their reads write the read log
        yield primary
        return
    session = router.factory()
    try:
        fresh, replayed_at = router.replayed(session, router.required_lsn(request, actor))
        if not fresh:
            session.close()
            yield primary
            return
        request.scope.setdefault("state", {})[_STATE_REPLAYED] = replayed_at.isoformat() if replayed_at else ""
        yield session
    finally:
        session.rollback()
        session.close()


ReadSessionDep = Annotated[Session, Depends(read_session, scope="function")]


class ReplicaHeadersMiddleware:
    """``X-Pipeline-LSN`` on writes and ``X-Data-Replayed-At`` on standby answers, from the request state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = scope.get("state", {})
                extra = [(name.encode(), str(state[key]).encode()) for name, key in
                         ((LSN_HEADER, _STATE_LSN), (REPLAYED_HEADER, _STATE_REPLAYED)) if state.get(key)]
                if extra:
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
