"""Numbers in JSON documents: the one form both databases and every language give back.

Integers must lie within ±(2^53−1) and every number must be finite — what an IEEE double, JSON's number in
every language, holds exactly (RFC 8785 refuses the rest). An integral float within that range is stored as the
integer (``2.0`` → ``2``, ``-0.0`` → ``0``); every other float stays a float. PostgreSQL's JSONB keeps numbers as
decimals and hands an integral float beyond 2^53 back as an integer (``1e16`` → ``10000000000000000``):
:func:`stored_value` turns it back into that float, exactly, since the decimal JSONB kept is the float's
shortest round-trip form. Used by the hash chain (:mod:`pipeline.lifecycle.chain`) and by the JSON columns
that hold what people send (:data:`pipeline.models.base.CanonicalJsonDoc`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pipeline.errors import InvalidInput

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every JSON reader holds exactly (an IEEE double); RFC 8785 refuses larger ones."""


class _Refused(Exception):
    """A number :func:`canonical_value` refuses; it then walks again to name the field."""


def canonical_value(value: Any, field: str = "evidence") -> Any:
    """A JSON value with its numbers in the one form both databases and every language give back.

    Refuses (:class:`InvalidInput` naming the field, e.g. ``data.amount``) integers outside ±(2^53−1) and
    non-finite numbers; integral floats within that range become integers (``-0.0`` → ``0``).
    """
    try:
        return _canonical(value)
    except _Refused:
        return _canonical_named(value, field)  # raises, naming the field


def _canonical(value: Any) -> Any:
    """:func:`canonical_value` without field names (built only when something is refused)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return {key: _canonical(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_canonical(item) for item in value]
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise _Refused
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _Refused
        return int(value) if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER else value
    try:  # a subclass of a JSON type (an IntEnum, an OrderedDict …)
        return _canonical_named(value, "")
    except InvalidInput:
        raise _Refused from None


def _canonical_named(value: Any, field: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise InvalidInput(f"{field} 的整数超出 ±(2^53−1) — {field}: the integer {value} lies outside "
                               f"±(2^53−1) = ±{MAX_SAFE_INTEGER}, beyond what JSON readers hold exactly; send it "
                               f"as a string", field=field)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{field} 不是有限数值 — {field}: NaN and Infinity are not numbers JSON can carry",
                               field=field)
        return int(value) if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER else value
    if isinstance(value, Mapping):
        return {key: _canonical_named(item, f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_named(item, f"{field}[{index}]") for index, item in enumerate(value)]
    return value


def stored_value(value: Any) -> Any:
    """A canonical value as a database returned it, back in canonical form: JSONB hands an integral float
    beyond 2^53 back as an integer (only floats get there: larger integers are refused on the way in)."""
    kind = type(value)
    if kind is dict:  # what JSON decoding gives: leaves handled in place, no call per value, floats first
        out = {}
        for key, item in value.items():
            leaf = type(item)
            if leaf is float:
                out[key] = int(item) if item.is_integer() and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER else item
            elif leaf is str or leaf is bool or item is None:
                out[key] = item
            elif leaf is int:
                out[key] = item if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER else float(item)
            else:
                out[key] = stored_value(item)
        return out
    if kind is list:  # a list of codes stays as it is without a call per code
        return [item if type(item) is str else stored_value(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value) if abs(value) > MAX_SAFE_INTEGER else value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER else value
    if isinstance(value, dict):
        return {key: stored_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [stored_value(item) for item in value]
    return value
