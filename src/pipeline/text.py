"""Text every door accepts: no control characters but tab, LF and CR; line ends stored as LF; bounded length.

The API (query strings, JSON bodies, forms), the importers (CSV and .xlsx cells) and the console all call
:func:`clean_text` / :func:`clean_json`, so the same character is refused with the same words wherever it
comes in, and a text typed with CRLF hashes the same as one typed with LF.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.errors import InvalidInput

MAX_STRING_LENGTH = 10_000
"""The longest string accepted anywhere in a JSON body (every string in ``evidence`` and ``data`` included)."""

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects accepted in a JSON body."""

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_ENDS = re.compile(r"\r\n?")


def control_message(char: str, field: str) -> str:
    """The one refusal every door gives for a control character."""
    code = f"U+{ord(char):04X}"
    return (f"{field}含不允许的控制字符 {code}（仅允许制表符、换行、回车） — {field} contains the control character "
            f"{code}; only tab, line feed and carriage return are allowed")


def clean_text(value: str, field: str, *, max_length: int | None = None) -> str:
    """``value`` with CRLF and lone CR as LF; refuses other control characters and (optionally) overlong text."""
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise InvalidInput(control_message(bad.group(), field), field=field)
    if "\r" in value:
        value = _LINE_ENDS.sub("\n", value)
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{field}超过{max_length}个字符 — {field} is longer than {max_length} characters "
                           f"({len(value)})", field=field)
    return value


def clean_optional(value: str | None, field: str) -> str | None:
    """:func:`clean_text` for an optional value."""
    return None if value is None else clean_text(value, field)


def clean_json(value: Any, field: str = "body", *, max_length: int = MAX_STRING_LENGTH) -> Any:
    """A parsed JSON document with every key and string through :func:`clean_text` (keys name the field)."""
    if isinstance(value, str):
        return clean_text(value, field, max_length=max_length)
    if isinstance(value, dict):
        return {clean_text(key, field, max_length=max_length):
                clean_json(item, f"{field}.{key}" if field != "body" else key, max_length=max_length)
                for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item, f"{field}[{index}]", max_length=max_length) for index, item in enumerate(value)]
    return value


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit`` — checked before parsing, without recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False
