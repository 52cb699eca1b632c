"""The console's sign-in session: a signed cookie holding the token's hash and a CSRF token, never the token.

The cookie is ``base64url(json) "." base64url(HMAC-SHA256(secret, base64url(json)))``, signed with the
stdlib's hmac (no extra dependency). The secret is ``PIPELINE_SECRET_KEY``; without it one is generated
per process, so sessions end when the server restarts and are not shared between uvicorn workers — set
the variable for any deployment with more than one worker. Every request re-reads the principal behind
the stored hash, so revoking a principal ends its console sessions at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.models import Principal
from pipeline.principals.service import actor_of

COOKIE_NAME = "zjtx_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
"""A working day; after it the official signs in again."""
SECRET_ENV = "PIPELINE_SECRET_KEY"  # noqa: S105 — the variable's name, not a secret

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


def _new_payload(token_hash: str | None = None) -> dict[str, Any]:
    return {"csrf": secrets.token_urlsafe(32), "th": token_hash, "iat": int(time.time())}


@dataclass
class ConsoleSession:
    """The request's session; ``changed`` makes the response carry a new cookie."""

    payload: dict[str, Any]
    changed: bool = False
    cleared: bool = False
    principal: Principal | None = None
    actor: Actor | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return str(self.payload["csrf"])

    def sign_in(self, token_hash: str) -> None:
        """A fresh session (and CSRF token) for the signed-in principal: nothing carries over."""
        self.payload = _new_payload(token_hash)
        self.changed = True

    def sign_out(self) -> None:
        self.payload = _new_payload()
        self.principal = None
        self.actor = None
        self.changed = True
        self.cleared = True

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf.encode(), (submitted or "").encode())


def load_session(request: Request, session: Session) -> ConsoleSession:
    """The session from the cookie (a new anonymous one if absent, forged or expired), principal resolved."""
    cached: ConsoleSession | None = getattr(request.state, "console_session", None)
    if cached is not None:
        return cached
    payload = unsign(request.cookies.get(COOKIE_NAME, ""))
    current = ConsoleSession(payload) if payload else ConsoleSession(_new_payload(), changed=True)
    token_hash = current.payload.get("th")
    if isinstance(token_hash, str):
        principal = session.scalars(select(Principal).where(Principal.token_hash == token_hash)).one_or_none()
        if principal is not None and principal.revoked_at is None:
            current.principal = principal
            current.actor = actor_of(principal)
        else:
            current.sign_out()
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
