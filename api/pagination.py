"""Keyset pagination shared by the list routes: the ``limit`` and ``cursor`` query parameters and the opaque
cursor (url-safe base64 of ``{"after": <last id>}``) they carry."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from fastapi import Query

from pipeline.errors import InvalidInput

MAX_LIMIT = 500
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CursorParam = Annotated[str | None, Query(max_length=200)]


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise TypeError  # ids are BIGINT: anything else was not made by this API
        return value
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput("游标无效 — cursor is not one this API returned", field="cursor") from None
