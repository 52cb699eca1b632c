"""Shared building blocks of the API's bodies: checked text, dates and JSON, events, problems."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from pipeline.errors import InvalidInput
from pipeline.json_numbers import canonical_value
from pipeline.lifecycle.machine import Trigger


def _no_control_characters(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("must not contain control characters (不得包含控制字符)")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):  # a lone surrogate cannot be stored as UTF-8
        raise ValueError("must not contain unpaired surrogates (不得包含无效的 Unicode 代理字符)")
    return value


class NestedValueError(ValueError):
    """A refusal of a value inside a JSON field; ``path`` names it below the field (``amount``, ``a[0].b``),
    and the problem's ``errors[].field`` says ``field.path``."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _clean_json(value: Any, path: str = "") -> Any:
    if isinstance(value, str):
        return _no_control_characters(value)
    if isinstance(value, dict):
        return {_no_control_characters(str(k)): _clean_json(v, f"{path}.{k}" if path else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Numbers in the one form both databases and every language give back (the hash chain needs it).
        try:
            return canonical_value(value, path or "value")
        except InvalidInput as exc:
            raise NestedValueError(exc.detail, path) from None
    return value


def _iso_date(value: Any) -> Any:
    """Dates are ``YYYY-MM-DD`` text: pydantic's lax mode would also read ``0`` as 1970-01-01."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date YYYY-MM-DD (日期格式应为 YYYY-MM-DD)")
    if not isinstance(value, str | dt.date) or isinstance(value, dt.datetime):
        raise ValueError("must be a date YYYY-MM-DD (日期格式应为 YYYY-MM-DD)")
    return value


Text = Annotated[str, AfterValidator(_no_control_characters)]


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]


LATEST_VALID_UNTIL = dt.date(2199, 12, 31)


TriggerName = Trigger


class EventOut(BaseModel):
    """An event exactly as hashed: run the README's recipe on these fields to check ``hash``."""

    uscc: str
    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    effective_date: str
    recorded_at: str
    actor: str
    reason_code: str | None
    reason: str | None
    evidence: dict[str, Any]
    rulebook_id: str
    rulebook_hash: str
    request_id: str | None
    prev_hash: str
    hash: str


HashRecipes = Annotated[dict[str, Literal["jcs-1", "pyjson-1"]], Field(
    description="序号 → 封存该事件的哈希规则 — seq of each item → the recipe that sealed it (jcs-1: RFC 8785; "
                "pyjson-1: the original json.dumps recipe; see the README). Kept beside the items so that every "
                "item is exactly the hashed fields; a page of several firms ends early rather than name one seq "
                "with two recipes.")]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
