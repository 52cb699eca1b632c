"""The console's sign-in session: a signed cookie naming a server-side session row, and a CSRF token.

The cookie is ``base64url(json) "." base64url(HMAC-SHA256(secret, base64url(json)))``, signed with the
stdlib's hmac (no extra dependency), and never holds the bearer token. Once signed in it carries a random
session id whose SHA-256 keys a row of ``console_sessions``: signing out ends that row, so a copy of the
cookie taken before sign-out is refused afterwards by every worker (the row lives in the database, not in
a process). The secret is ``PIPELINE_SECRET_KEY``; without it one is generated per process, so sessions end
when the server restarts and are not shared between uvicorn workers — set the variable for any deployment
with more than one worker. Every request re-reads the row and the principal behind it, so revoking a
principal ends its console sessions at once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import delete
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.models import ConsoleSessionRecord, ConsoleUser, Principal
from pipeline.principals.service import actor_of

COOKIE_NAME = "zjtx_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
"""A working day; after it the official signs in again."""
SECRET_ENV = "PIPELINE_SECRET_KEY"  # noqa: S105 — the variable's name, not a secret
IDLE_ENV = "PIPELINE_SESSION_IDLE_MINUTES"
IDLE_DEFAULT_MINUTES = 30
SEEN_EVERY = dt.timedelta(seconds=30)
"""``last_seen_at`` is written at most this often (not on every page)."""


def idle_limit() -> dt.timedelta:
    """A session ends after this long without a request (``PIPELINE_SESSION_IDLE_MINUTES``, default 30)."""
    text = os.environ.get(IDLE_ENV, "").strip()
    minutes = int(text) if text.isdigit() and int(text) > 0 else IDLE_DEFAULT_MINUTES
    return dt.timedelta(minutes=minutes)

_PROCESS_SECRET = secrets.token_bytes(32)

SECURITY_HEADERS = {
    # Everything the console needs is served by the app itself: no request may leave the machine.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _secret() -> bytes:
    configured = os.environ.get(SECRET_ENV, "")
    return configured.encode("utf-8") if configured else _PROCESS_SECRET


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(_secret(), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(value: str) -> dict[str, Any] | None:
    """The payload of a cookie this process signed and that has not expired, else ``None``."""
    body, _, mac = value.partition(".")
    try:
        expected = hmac.new(_secret(), body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("csrf"), str):
        return None
    issued = payload.get("iat")
    if not isinstance(issued, int) or not 0 <= time.time() - issued <= SESSION_SECONDS:
        return None
    return payload


def _new_payload(session_id: str | None = None) -> dict[str, Any]:
    return {"csrf": secrets.token_urlsafe(32), "sid": session_id, "iat": int(time.time())}


def _row_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass
class ConsoleSession:
    """The request's session; ``changed`` makes the response carry a new cookie."""

    payload: dict[str, Any]
    changed: bool = False
    cleared: bool = False
    principal: Principal | None = None
    actor: Actor | None = None
    user: ConsoleUser | None = None
    expired: bool = False
    """The request came with a session that ended for idleness or age (not one that was never signed in)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return str(self.payload["csrf"])

    def sign_in(self, db: Session, principal_id: str, user_id: str | None = None) -> None:
        """A fresh session (id and CSRF token) for the signed-in principal: nothing carries over.

        The previous session, if any, ends; sessions past their time are swept out of the table here.
        """
        self._end(db)
        now = utc_now()
        db.execute(delete(ConsoleSessionRecord).where(ConsoleSessionRecord.expires_at < now))
        session_id = secrets.token_urlsafe(32)
        db.add(ConsoleSessionRecord(id=_row_id(session_id), principal_id=principal_id, created_at=now,
                                    expires_at=now + dt.timedelta(seconds=SESSION_SECONDS), user_id=user_id,
                                    last_seen_at=now))
        db.flush()
        self.payload = _new_payload(session_id)
        self.changed = True

    def sign_out(self, db: Session) -> None:
        """End the session on the server (every copy of the cookie) and start an anonymous one."""
        self._end(db)
        self.payload = _new_payload()
        self.principal = None
        self.actor = None
        self.changed = True
        self.cleared = True

    def _end(self, db: Session) -> None:
        session_id = self.payload.get("sid")
        if isinstance(session_id, str):
            row = db.get(ConsoleSessionRecord, _row_id(session_id))
            if row is not None and row.ended_at is None:
                row.ended_at = utc_now()
                db.flush()

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf.encode(), (submitted or "").encode())


def load_session(request: Request, session: Session) -> ConsoleSession:
    """The session from the cookie (a new anonymous one if absent, forged or expired), principal resolved."""
    cached: ConsoleSession | None = getattr(request.state, "console_session", None)
    if cached is not None:
        return cached
    payload = unsign(request.cookies.get(COOKIE_NAME, ""))
    current = ConsoleSession(payload) if payload else ConsoleSession(_new_payload(), changed=True)
    session_id = current.payload.get("sid")
    if isinstance(session_id, str):
        now = utc_now()
        row = session.get(ConsoleSessionRecord, _row_id(session_id))
        idle = row is not None and row.last_seen_at is not None and now - row.last_seen_at > idle_limit()
        live = row is not None and row.ended_at is None and row.expires_at > now and not idle
        principal = session.get(Principal, row.principal_id) if live and row is not None else None
        user = session.get(ConsoleUser, row.user_id) if live and row is not None and row.user_id else None
        if principal is not None and principal.revoked_at is None and (
                row is not None and (row.user_id is None or (user is not None and user.disabled_at is None))):
            current.principal = principal
            current.actor = actor_of(principal)
            if user is not None:
                current.user = user
                current.actor = replace(current.actor, user=user.name)
            if row.last_seen_at is None or now - row.last_seen_at > SEEN_EVERY:
                row.last_seen_at = now
        else:
            current.expired = row is not None and row.ended_at is None
            current.sign_out(session)
    request.state.console_session = current
    return current


class ConsoleExit(Exception):
    """Ends a console request with a ready response (a redirect to sign-in, a 403 or 404 page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ConsoleRoute(APIRoute):
    """Routes of the console: early exits become their pages; every response gets the cookie and headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except ConsoleExit as exit_:
                response = exit_.response
            finish(request, response)
            return response

        return route


def finish(request: Request, response: Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    current: ConsoleSession | None = getattr(request.state, "console_session", None)
    if current is None or not current.changed:
        return
    response.set_cookie(
        COOKIE_NAME, sign(current.payload), max_age=SESSION_SECONDS, path=COOKIE_PATH, httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )
