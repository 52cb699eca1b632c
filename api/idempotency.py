"""``Idempotency-Key``: a retried POST/PATCH returns the stored response and writes nothing.

The record is written in the request's own transaction, before the work, so two concurrent requests
with one key serialise on its unique index: the second waits for the first to commit, then replays it.

Every request that reached the action has its answer stored, refusals included: a refused transition
retried with the same key and body replays the refusal, even after the firm has changed. A refusal rolls
the request's transaction back (the reservation with it), so the problem handler stores it afterwards in
a transaction of its own (:meth:`Idempotency.store_refusal`). What is stored (:data:`STORED_SLUGS`): 403,
404, the 409s ``illegal-transition``/``guard-failed``/``already-exists`` and the 422s the domain raises.
Not stored — they say nothing final about the request: 401 and request-validation 422 (the action never
started), 409 ``conflict`` and 412 (a concurrent writer or a stale ``If-Match``: the retry may succeed),
413, 428, and 5xx.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

import anyio
from fastapi import Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.problems import ProblemError
from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.models import IdempotencyRecord

REPLAYED_HEADER = "Idempotency-Replayed"
IDEMPOTENCY_KEY_MAX = 200
_KEPT_HEADERS = ("location", "etag", "content-type")

STORED_SLUGS = frozenset({
    "forbidden", "not-found", "illegal-transition", "guard-failed", "already-exists",  # 403, 404, 409
    "validation-error", "invalid-uscc", "invalid-region", "batch-refused",  # 422 raised by the domain
})
"""Refusals stored and replayed. Raised before the key is reserved (authentication, request validation),
they are never stored whatever their slug."""


class Idempotency:
    def __init__(self, key: str | None, request_hash: str, request: Request | None = None) -> None:
        self.key = key
        self.request_hash = request_hash
        self._request = request
        self._record: IdempotencyRecord | None = None
        self._principal_id: str | None = None

    def begin(self, session: Session, actor: Actor) -> Response | None:
        """A stored response to replay, or ``None`` after reserving the key for this request."""
        if self.key is None:
            return None
        stored = self._find(session, actor)
        if stored is not None:
            return self._replay(stored)
        record = IdempotencyRecord(
            principal_id=actor.id, key=self.key, request_hash=self.request_hash, status_code=0,
            response_body="", response_headers={}, created_at=utc_now(),
        )
        try:
            with session.begin_nested():
                session.add(record)
                session.flush()
        except IntegrityError:
            stored = self._find(session, actor)
            if stored is None:  # the other request failed and rolled back; ours may proceed next time
                raise ProblemError("conflict", "同一幂等键的请求正在处理 — a request with this Idempotency-Key "
                                   "was in flight and failed; retry") from None
            return self._replay(stored)
        self._record = record
        self._principal_id = actor.id
        if self._request is not None:
            self._request.state.idempotency = self  # the problem handler stores a refusal through it
        return None

    def finish(self, session: Session, response: JSONResponse) -> JSONResponse:
        if self._record is not None:
            self._record.status_code = response.status_code
            self._record.response_body = bytes(response.body).decode("utf-8")
            self._record.response_headers = _kept_headers(response)
            session.flush()
        return response

    async def store_refusal(self, slug: str, response: JSONResponse) -> None:
        """Store a refusal of a request whose key was reserved, after its transaction rolled back.

        Its own transaction: the request's was rolled back, reservation included. If a concurrent request
        with the same key got in between, its stored outcome stands and this one is dropped.
        """
        if self._record is None or self._request is None or slug not in STORED_SLUGS:
            return
        assert self.key is not None
        assert self._principal_id is not None
        factory: sessionmaker[Session] = self._request.app.state.session_factory
        record = IdempotencyRecord(
            principal_id=self._principal_id, key=self.key, request_hash=self.request_hash,
            status_code=response.status_code, response_body=bytes(response.body).decode("utf-8"),
            response_headers=_kept_headers(response), created_at=utc_now())
        self._record = None
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_store, factory, record, limiter=anyio.CapacityLimiter(1))

    def _find(self, session: Session, actor: Actor) -> IdempotencyRecord | None:
        assert self.key is not None
        return session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == actor.id, IdempotencyRecord.key == self.key)).one_or_none()

    def _replay(self, stored: IdempotencyRecord) -> Response:
        if stored.request_hash != self.request_hash:
            raise ProblemError(
                "idempotency-key-reuse",
                f"幂等键“{self.key}”已用于另一个请求 — Idempotency-Key {self.key!r} was already used with a "
                f"different request; use a new key for a new request")
        headers = {**stored.response_headers, REPLAYED_HEADER: "true"}
        media_type = headers.pop("content-type", None) or "application/json"
        return Response(stored.response_body, status_code=stored.status_code, headers=headers,
                        media_type=media_type)


def _kept_headers(response: Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower() in _KEPT_HEADERS}


def _store(factory: sessionmaker[Session], record: IdempotencyRecord) -> None:
    try:
        with factory() as session, session.begin():
            session.add(record)
    except IntegrityError:
        pass  # a concurrent request with this key stored its outcome first; that one is replayed


IDEMPOTENCY_KEY_DESCRIPTION = "幂等键 — retries with the same key and body return the stored response; kept ≥ 24 h"
IdempotencyKey = Annotated[str | None, Header(max_length=IDEMPOTENCY_KEY_MAX, description=IDEMPOTENCY_KEY_DESCRIPTION)]
"""The ``Idempotency-Key`` header as :data:`IdempotencyDep` declares it; the write units read it themselves
(:func:`idempotency_from_headers`)."""


async def idempotency(request: Request, idempotency_key: IdempotencyKey = None) -> Idempotency:
    key = idempotency_key.strip() if idempotency_key and idempotency_key.strip() else None
    if key is None:  # nothing will be stored or compared: don't parse and hash the body
        return Idempotency(None, "")
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except ValueError:
        canonical = body
    digest = hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode() + canonical)
    return Idempotency(key, digest.hexdigest(), request)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]

_KEY_ADAPTER: TypeAdapter[str] = TypeAdapter(Annotated[str, StringConstraints(max_length=IDEMPOTENCY_KEY_MAX)])


async def idempotency_from_headers(request: Request) -> Idempotency:
    """:func:`idempotency` for a route that reads its headers itself (the write units: see
    :func:`api.deps.unit_openapi`): the ``Idempotency-Key`` checked as the declared parameter would be — a key
    over 200 characters is the same 422, naming the header."""
    key = request.headers.get("idempotency-key")
    if key is not None:
        try:
            _KEY_ADAPTER.validate_python(key)
        except ValidationError as error:
            raise RequestValidationError([{**e, "loc": ("header", "idempotency-key")} for e in error.errors()],
                                         ) from None
    return await idempotency(request, key)
