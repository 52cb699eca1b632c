"""Every error is an RFC 9457 ``application/problem+json`` document; domain errors map to HTTP here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.metrics import count_refusal
from pipeline import errors

log = logging.getLogger("pipeline.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

#: slug → (status, title, when it happens). The slugs are a contract; documented at /problems/{slug}.
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "validation-error": (422, "Validation error (请求参数有误)", "A field is missing or malformed; see `errors`."),
    "invalid-uscc": (422, errors.InvalidUSCC.title, "The USCC fails GB 32100; `detail` says which character."),
    "invalid-region": (422, errors.InvalidRegion.title, "The GB/T 2260 division code is unknown or abolished."),
    "not-found": (404, errors.NotFound.title, "No such resource in your jurisdiction."),
    "method-not-allowed": (405, "Method not allowed (不支持的请求方法)", "The route exists, the method does not."),
    "not-acceptable": (406, "Not acceptable (不支持的响应格式)", "No representation matches `Accept`."),
    "unauthorized": (401, "Unauthorized (未认证)", "No bearer token, or an unknown or revoked one."),
    "forbidden": (403, errors.Forbidden.title, "The rulebook does not grant this to your role and level."),
    "already-exists": (409, errors.AlreadyExists.title, "A firm with this USCC already exists."),
    "illegal-transition": (409, errors.IllegalTransition.title,
                           "The trigger is not allowed from the firm's state; `allowed_triggers` lists the allowed."),
    "guard-failed": (409, errors.GuardFailed.title, "A guard refused; `guard` names it, `refusals` lists all."),
    "quota-exceeded": (409, errors.QuotaExceeded.title,
                       "The child region has used its recommendation quota (推荐名额) for the year and tier; "
                       "`quota`, `recommended` and `region_code` say which. Nothing written."),
    "conflict": (409, errors.Conflict.title, "A concurrent request changed the firm first; reload and retry."),
    "anchor-key-missing": (409, errors.AnchorKeyMissing.title,
                           "No anchor signing key is configured (`PIPELINE_ANCHOR_KEY`); nothing was written."),
    "version-mismatch": (412, errors.VersionMismatch.title, "`If-Match` is not the firm's current version."),
    "precondition-required": (428, "Precondition required (需要 If-Match)", "This write needs `If-Match`."),
    "idempotency-key-reuse": (422, "Idempotency-Key reused (幂等键已用于另一请求)",
                              "The same Idempotency-Key was sent with a different request body."),
    "payload-too-large": (413, "Payload too large (请求体过大)", "The request body exceeds the limit."),
    "file-too-large": (422, errors.FileTooLarge.title,
                       "The workbook would inflate past a limit (uncompressed size, compression ratio, members, "
                       "shared strings); refused before unpacking, nothing written."),
    "invalid-file": (422, errors.InvalidFile.title,
                     "The file's structure is broken (not a workbook, bad XML, no sheet, an impossible cell); "
                     "`detail` names the sheet and cell when known. Nothing written."),
    "import-rejected": (422, "Import rejected (导入未通过校验)",
                        "Some rows cannot be applied, so nothing was written; `report` lists every row."),
    "batch-refused": (422, "Batch refused (批量操作未执行)", "An all_or_nothing batch had bad items; `items` names "
                      "each (index, uscc, type, detail) and nothing was written."),
    "internal-error": (500, "Internal error (内部错误)", "A bug: nothing was written; the request id is logged."),
}

_DOMAIN_SLUGS: list[tuple[type[errors.PipelineError], str]] = [
    (errors.FileTooLarge, "file-too-large"),
    (errors.InvalidFile, "invalid-file"),
    (errors.InvalidUSCC, "invalid-uscc"),
    (errors.InvalidRegion, "invalid-region"),
    (errors.InvalidInput, "validation-error"),
    (errors.NotFound, "not-found"),
    (errors.AlreadyExists, "already-exists"),
    (errors.Forbidden, "forbidden"),
    (errors.IllegalTransition, "illegal-transition"),
    (errors.GuardFailed, "guard-failed"),
    (errors.VersionMismatch, "version-mismatch"),
    (errors.Conflict, "conflict"),
    (errors.QuotaExceeded, "quota-exceeded"),
    (errors.AnchorKeyMissing, "anchor-key-missing"),
]


class ProblemError(Exception):
    """An HTTP-level refusal raised by the web layer itself (authentication, idempotency, preconditions)."""

    def __init__(self, slug: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_body(slug: str, detail: str, instance: str | None = None, **extra: Any) -> dict[str, Any]:
    status, title, _ = PROBLEM_TYPES[slug]
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def problem_response(slug: str, detail: str, request: Request | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    instance = request.url.path if request is not None else None
    body = problem_body(slug, detail, instance, **extra)
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def slug_for(exc: errors.PipelineError) -> str:
    for cls, slug in _DOMAIN_SLUGS:
        if isinstance(exc, cls):
            return slug
    return "validation-error"


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _nested_field(field: str, err: Any) -> str:
    """``data.amount`` rather than ``data`` when the validator named the value inside the field."""
    path = getattr((err.get("ctx") or {}).get("error"), "path", None)
    if not path:
        return field
    return path if field == "body" else f"{field}{'' if path.startswith('[') else '.'}{path}"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route that matched)."""
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                   for route in request.app.router.routes)]


async def _kept_for_retries(request: Request, slug: str, response: JSONResponse) -> JSONResponse:
    """A refusal of a request that reserved an ``Idempotency-Key`` is stored for its retries
    (:meth:`api.idempotency.Idempotency.store_refusal` decides which); its transaction is already rolled back."""
    recorder = getattr(request.state, "idempotency", None)
    if recorder is not None:
        await recorder.store_refusal(slug, response)
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.PipelineError)
    async def _domain(request: Request, exc: errors.PipelineError) -> JSONResponse:
        slug = slug_for(exc)
        extra = dict(exc.extra)
        count_refusal(slug, extra)
        if isinstance(exc, errors.InvalidInput) and exc.field:
            extra["errors"] = [{"field": exc.field, "message": exc.detail}]
        return await _kept_for_retries(request, slug, problem_response(slug, exc.detail, request, **extra))

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        response = problem_response(exc.slug, exc.detail, request, headers=exc.headers, **exc.extra)
        return await _kept_for_retries(request, exc.slug, response)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        failures = [
            {"field": _nested_field(_field_of(tuple(err.get("loc", ()))), err),
             "message": str(err.get("msg", "invalid"))}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in failures) or "invalid request"
        return problem_response("validation-error", f"请求参数有误 — {detail}", request, errors=failures)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400 is FastAPI's "could not parse the body" (e.g. a number too long to parse): a validation error.
        slug = {400: "validation-error", 401: "unauthorized", 404: "not-found", 405: "method-not-allowed",
                406: "not-acceptable", 413: "payload-too-large"}.get(exc.status_code)
        if slug is None:
            body = {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code,
                    "detail": str(exc.detail)}
            return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE)
        detail = {"not-found": f"没有这个地址 — no route {request.url.path}",
                  "method-not-allowed": f"{request.method} is not allowed on {request.url.path}"}.get(
            slug, str(exc.detail))
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(slug, detail, request, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
        return problem_response("internal-error", f"内部错误，未写入任何数据 — internal error; nothing was "
                                f"written (request id {request_id})", request)
