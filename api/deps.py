"""Typed dependencies: the request's session (the one place a request commits) and its principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from api import threads
from api.metrics import LOCK_WAITS
from api.problems import ProblemError
from pipeline.access import Actor
from pipeline.db import lock_wait_timed_out
from pipeline.history import reads as audit_reads
from pipeline.principals.cache import PrincipalCache


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it raises.

    ``scope="function"`` (below) makes FastAPI run the commit before the response is sent, so a client
    never sees a success that was not stored.

    Opening a session does no I/O (it connects on first use). The commit (or rollback) runs right here on
    the event loop: it is one short round trip, a hop to a worker thread for it cost more than the wait it
    freed, and with no ``await`` inside it a client that hangs up cannot cancel it halfway (no transaction
    is left open). Long work stays off the loop in the routes themselves: imports, exports, verification
    and sweeps are plain ``def`` routes, run in worker threads.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    session.begin()
    try:
        yield session
    except BaseException:
        _finish(session, False)
        raise
    after_write = getattr(request.app.state, "after_write_commit", None)
    _finish(session, True, after_write if request.method in WRITE_METHODS else None, request)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AfterCommit = Callable[[Request, Session], None]


def _finish(session: Session, commit: bool, after: AfterCommit | None = None, request: Request | None = None,
            ) -> None:
    """Commit or roll back, then close; ``after(request, session)`` runs once a write has committed (the
    read-replica router records the primary's WAL position there)."""
    try:
        if commit:
            session.commit()
            if after is not None and request is not None:
                after(request, session)
        else:
            session.rollback()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

Work = Callable[[Session, Actor], Response]

QUICK_LOCK_WAIT_MS = 20
"""How long a write unit run on the event loop may wait for a lock (another request writing the same firm, an
import holding it) before it is rolled back and run again on a worker thread: the event loop serves every
other request of its worker, so it never waits on another transaction for longer than this."""


async def write_unit(request: Request, work: Work) -> Response:
    """The whole unit of work of a short write — authenticate, act, commit — with no thread hop when nothing
    holds it up.

    These routes read their headers themselves (the bearer token here, ``Idempotency-Key`` and ``If-Match`` in
    the route), declared in the schema by :func:`unit_openapi` rather than as parameters FastAPI would solve at
    every request (about 5 % of a write's server CPU, py-spy under ``bench/api_load.py``).

    On PostgreSQL the unit runs right here, on the event loop, on connections with ``lock_timeout`` =
    :data:`QUICK_LOCK_WAIT_MS`: its few round trips are short, and the hop to a worker thread and back cost more
    than they do — run on the loop, the writes of ``bench/api_load.py`` took a quarter less server CPU each and
    the server answered 25–30 % more of them. Should the unit have to wait longer for a lock, its transaction
    is rolled back (nothing of it was written) and it runs again from the start on a worker thread
    (:mod:`api.threads`), which waits as long as the lock is held — so a firm that an import holds never
    stalls the other requests of the worker. On SQLite, whose writers queue for one database-wide lock, every
    unit runs on a worker thread. Errors propagate (the problem handlers answer them) after the transaction
    is rolled back.
    """
    credentials = await bearer_scheme(request)
    quick: sessionmaker[Session] | None = request.app.state.quick_write_session_factory
    if quick is not None:
        try:
            return _unit(quick, request, credentials, work)
        except DBAPIError as error:
            if not lock_wait_timed_out(error):
                raise
            LOCK_WAITS.inc()
    patient: sessionmaker[Session] = request.app.state.write_session_factory  # generic plans: see api.main
    return await threads.run(_unit, patient, request, credentials, work)


def _unit(factory: sessionmaker[Session], request: Request, credentials: HTTPAuthorizationCredentials | None,
          work: Work) -> Response:
    session = factory()
    session.begin()
    try:
        response = work(session, authenticate_request(request, session, credentials))
    except BaseException:
        _finish(session, False)
        raise
    _finish(session, True, getattr(request.app.state, "after_write_commit", None), request)
    return response


#: Declared as an HTTP bearer security scheme, so /docs offers "Authorize" and clients see it in the schema.
#: ``auto_error=False``: a missing token is our own 401 problem, not FastAPI's 403.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer",
                           description="令牌来自 `pipeline principal add` — a token from `pipeline principal add`")


async def current_actor(  # async: the lookup is a memory hit or one short query, not worth a thread hop
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
) -> Actor:
    return authenticate_request(request, session, credentials)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def unit_openapi(*parameters: dict[str, Any]) -> dict[str, Any]:
    """The schema of a write unit's route (:func:`write_unit`): the parameters it reads itself (the firm's
    path parameter, headers), each as FastAPI would have declared it, and the bearer scheme."""
    return {"parameters": list(parameters), "security": [{bearer_scheme.scheme_name: []}]}


USCC_PATH: dict[str, Any] = {"name": "uscc", "in": "path", "required": True,
                             "schema": {"type": "string", "title": "Uscc"}}
"""``{uscc}`` as FastAPI declares ``uscc: str``. A write unit reads it from ``request.path_params`` (the route's
match, the value FastAPI would pass): solving it as a parameter went through FastAPI's validation of a plain
string at every request (about 2 % of a write's server CPU, py-spy under ``bench/api_load.py``)."""


def header_parameter(name: str, title: str, description: str, max_length: int | None = None) -> dict[str, Any]:
    """An optional text header as FastAPI declares ``Annotated[str | None, Header(…)]`` in the schema."""
    text: dict[str, Any] = {"type": "string"} if max_length is None else {"type": "string", "maxLength": max_length}
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"anyOf": [text, {"type": "null"}], "description": description, "title": title}}


def authenticate_request(request: Request, session: Session,
                         credentials: HTTPAuthorizationCredentials | None) -> Actor:
    """The request's principal (401 problem if none), remembered on ``request.state``; auditors' reads logged."""
    token = credentials.credentials if credentials is not None else ""
    if credentials is None or credentials.scheme.lower() != "bearer" or not token.strip():
        raise ProblemError("unauthorized", "需要 Authorization: Bearer <token> — this route needs a bearer token",
                           headers={"WWW-Authenticate": "Bearer"})
    principals: PrincipalCache = request.app.state.principals
    actor = principals.lookup(session, token.strip())
    if actor is None:
        raise ProblemError("unauthorized", "令牌无效或已吊销 — the bearer token is unknown or revoked",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.actor = actor
    log_read(request, session, actor)
    return actor


def log_read(request: Request, session: Session, actor: Actor) -> None:
    """An auditor's GET goes to the read log, whichever door it came through (the API or the console).

    Written in the request's own transaction, so it is committed with the request: a read that was served
    was logged. The route is the matched route's template (``/console/enterprises/{uscc}``), which also
    names the door.
    """
    if actor.role not in audit_reads.LOGGED_ROLES or request.method != "GET":
        return
    audit_reads.record_read(session, actor, route=_route_template(request),
                            uscc=str(request.path_params.get("uscc") or "") or None,
                            query=request.url.query or None, request_id=getattr(request.state, "request_id", None))


def _route_template(request: Request) -> str:
    """The full template of the matched route. A route of an included router knows only its own part
    (``/audit``), so the prefix it was mounted under is taken from the path (parameters hold no ``/``)."""
    template: str | None = getattr(request.scope.get("route"), "path", None)
    path = str(request.scope.get("path") or request.url.path)
    if not template:
        return path
    parts = path.split("/")
    return "/".join(parts[:max(len(parts) - template.count("/"), 1)]) + template


CurrentActor = Annotated[Actor, Depends(current_actor)]


async def request_id(request: Request) -> str:  # async: no I/O, so no thread-pool hop
    return str(request.state.request_id)


RequestId = Annotated[str, Depends(request_id)]


async def reject_unknown_query(request: Request) -> None:  # async: no I/O, so no thread-pool hop
    """A misspelt filter (``?sate=national``) must not silently return everything: 422 naming it."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known = {param.alias for param in _all_query_params(dependant)}
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise ProblemError(
            "validation-error", f"未知查询参数 — unknown query parameter(s) {', '.join(map(repr, unknown))}; "
            f"this route takes: {listed}",
            errors=[{"field": name, "message": "unknown query parameter"} for name in unknown])


def _all_query_params(dependant: Any) -> list[Any]:
    params = list(dependant.query_params)
    for sub in dependant.dependencies:
        params.extend(_all_query_params(sub))
    return params


class StrictQueryRoute(APIRoute):
    """The routes of every API router: a query parameter the route does not take is refused
    (:func:`reject_unknown_query`). Checked in the route's handler, before its dependencies are solved —
    a route class rather than a dependency, so a request without a query string (every write) pays nothing."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            if request.scope.get("query_string"):
                await reject_unknown_query(request)
            return await handler(request)

        return strict
