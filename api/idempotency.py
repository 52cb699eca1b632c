"""``Idempotency-Key``: a retried POST/PATCH returns the stored response and writes nothing.

The record is written in the request's own transaction, before the work, so two concurrent requests
with one key serialise on its unique index: the second waits for the first to commit, then replays it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.problems import ProblemError
from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.models import IdempotencyRecord

REPLAYED_HEADER = "Idempotency-Replayed"
_KEPT_HEADERS = ("location", "etag", "content-type")


class Idempotency:
    def __init__(self, key: str | None, request_hash: str) -> None:
        self.key = key
        self.request_hash = request_hash
        self._record: IdempotencyRecord | None = None

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
        return None

    def finish(self, session: Session, response: JSONResponse) -> JSONResponse:
        if self._record is not None:
            self._record.status_code = response.status_code
            self._record.response_body = bytes(response.body).decode("utf-8")
            self._record.response_headers = {
                name: value for name, value in response.headers.items() if name.lower() in _KEPT_HEADERS}
            session.flush()
        return response

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
        headers.pop("content-type", None)
        return Response(stored.response_body, status_code=stored.status_code, headers=headers,
                        media_type="application/json")


async def idempotency(
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=200, description=(
        "幂等键 — retries with the same key and body return the stored response; kept ≥ 24 h"))] = None,
) -> Idempotency:
    key = idempotency_key.strip() if idempotency_key and idempotency_key.strip() else None
    if key is None:  # nothing will be stored or compared: don't parse and hash the body
        return Idempotency(None, "")
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except ValueError:
        canonical = body
    digest = hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode() + canonical)
    return Idempotency(key, digest.hexdigest())


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
