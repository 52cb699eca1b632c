"""One door for hostile bytes: every request's query string and non-file body checked before any route runs.

A pure ASGI middleware (no BaseHTTPMiddleware task per request), in front of every route, the console's
forms included:

* control characters other than tab, LF and CR in any query parameter, JSON string or key, or form field
  → 422 ``validation-error`` with the same words as every other door (:func:`pipeline.text.clean_text`);
  CRLF and lone CR in JSON strings and form fields become LF before the route sees them (so they are
  stored and hashed as LF);
* a body larger than ``Settings.max_json_body_bytes`` (multipart uploads: ``max_upload_bytes``) → 413
  ``payload-too-large`` before it is read further;
* JSON nested deeper than :data:`pipeline.text.MAX_JSON_DEPTH`, or any string in it longer than
  :data:`pipeline.text.MAX_STRING_LENGTH` → 422 ``validation-error`` naming the field.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_MEDIA_TYPE, problem_body
from pipeline.errors import InvalidInput
from pipeline.text import MAX_JSON_DEPTH, clean_json, clean_text, json_depth_exceeds


class _TooLarge(Exception):
    pass


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1").split(";", 1)[0].strip().lower())
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _clean_form(raw: bytes) -> bytes | None:
    """An urlencoded body with its fields cleaned; ``None`` when nothing changed."""
    pairs = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    cleaned = [(clean_text(key, "form"), clean_text(value, key)) for key, value in pairs]
    return None if cleaned == pairs else urlencode(cleaned).encode("ascii")


def _clean_json(raw: bytes) -> bytes | None:
    """A JSON body with its strings cleaned; ``None`` when nothing changed (or it is not JSON: the route says so)."""
    if json_depth_exceeds(raw):
        raise InvalidInput(f"JSON 嵌套超过{MAX_JSON_DEPTH}层 — the JSON body nests arrays/objects deeper than "
                           f"{MAX_JSON_DEPTH} levels", field="body")
    try:
        parsed: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    cleaned = clean_json(parsed)
    if cleaned == parsed:
        return None
    return json.dumps(cleaned, ensure_ascii=False).encode("utf-8")


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_query(scope)
        except InvalidInput as exc:
            await self._refuse(scope, send, "validation-error", exc)
            return
        kind = _content_type(scope)
        upload = kind == "multipart/form-data"
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(scope, send, limit)
            return
        if upload or (scope["method"] in ("GET", "HEAD", "OPTIONS") and not declared):
            await self._counted(scope, receive, send, limit)
            return
        body = await self._read(receive, limit)
        if body is None:
            await self._too_large(scope, send, limit)
            return
        try:
            if kind == "application/json" or kind.endswith("+json"):
                body = _clean_json(body) or body
            elif kind == "application/x-www-form-urlencoded":
                body = _clean_form(body) or body
        except InvalidInput as exc:
            await self._refuse(scope, send, "validation-error", exc)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _check_query(scope: Scope) -> None:
        raw = scope.get("query_string", b"")
        if raw:
            for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                                        errors="replace"):
                clean_text(key, "query")
                clean_text(value, key)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Uploads stream through; a body that grows past the limit (no or a false Content-Length) → 413."""
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _TooLarge:
            if started:
                raise
            await self._too_large(scope, send, limit)

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        detail = (f"请求体超过{limit:,}字节 — the request body exceeds {limit:,} bytes; nothing was stored")
        await self._send(scope, send, problem_body("payload-too-large", detail, scope.get("path")))

    async def _refuse(self, scope: Scope, send: Send, slug: str, exc: InvalidInput) -> None:
        body = problem_body(slug, exc.detail, scope.get("path"),
                            errors=[{"field": exc.field or "body", "message": exc.detail}])
        await self._send(scope, send, body)

    @staticmethod
    async def _send(scope: Scope, send: Send, body: dict[str, Any]) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        await send({"type": "http.response.start", "status": body["status"],
                    "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
