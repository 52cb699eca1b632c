"""OpenAPI declarations of the problem responses each route can give."""

from __future__ import annotations

from typing import Any

from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES
from api.schemas.common import Problem

_DESCRIPTIONS = {
    401: "unauthorized — 未认证",
    403: "forbidden — 无权操作",
    404: "not-found — 未找到（或不在辖区内）",
    406: "not-acceptable",
    409: "already-exists / illegal-transition / guard-failed / conflict",
    412: "version-mismatch — If-Match 与当前版本不符",
    422: "validation-error / invalid-uscc / invalid-region / idempotency-key-reuse",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    slugs = {status: [slug for slug, (code, _, _) in PROBLEM_TYPES.items() if code == status] for status in statuses}
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, ", ".join(slugs[status])),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
