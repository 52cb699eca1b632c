"""Typed dependencies: the request's session (the one place a request commits) and its principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from api.problems import ProblemError
from pipeline.access import Actor
from pipeline.principals import authenticate


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it raises.

    ``scope="function"`` (below) makes FastAPI run the commit before the response is sent, so a client
    never sees a success that was not stored.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def current_actor(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header(description="`Bearer <token>`")] = None,
) -> Actor:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError("unauthorized", "需要 Authorization: Bearer <token> — this route needs a bearer token",
                           headers={"WWW-Authenticate": "Bearer"})
    actor = authenticate(session, token.strip())
    if actor is None:
        raise ProblemError("unauthorized", "令牌无效或已吊销 — the bearer token is unknown or revoked",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def request_id(request: Request) -> str:
    return str(request.state.request_id)


RequestId = Annotated[str, Depends(request_id)]
