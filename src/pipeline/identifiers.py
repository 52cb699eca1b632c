"""Unified social credit codes (GB 32100-2015) and GB/T 2260 administrative division codes.

Both checks are python-stdnum's: ``stdnum.cn.uscc`` for the code and its ``cn/loc`` table for divisions.
This module only turns the library's verdicts into messages an official can act on.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from stdnum import numdb
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from pipeline.errors import InvalidRegion, InvalidUSCC

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CANONICAL_USCC = re.compile(r"[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{10}")
"""A code already in stdnum's compact form: ASCII digits for characters 1–8, GB 32100's alphabet after."""


def normalize_uscc(raw: str) -> str:
    """Full-width characters, stray spaces and lower case are what published lists contain."""
    text = unicodedata.normalize("NFKC", raw)
    return str(stdnum_uscc.compact(re.sub(r"\s+", "", text)))


def in_canonical_form(raw: str) -> bool:
    """Whether ``raw`` is already written as :func:`validate_uscc` returns a code (ASCII digits for characters
    1–8, GB 32100's alphabet after, nothing to normalise) — its check character not yet checked. A code in that
    form that the register holds was checked when its firm was enrolled: a bulk reader may look it up first and
    check only the codes it does not find."""
    return _CANONICAL_USCC.fullmatch(raw) is not None


def validate_uscc(raw: str) -> str:
    """Return the normalized code or raise :class:`InvalidUSCC` saying which character is wrong."""
    if _CANONICAL_USCC.fullmatch(raw) and stdnum_uscc.calc_check_digit(raw[:17]) == raw[17]:
        # already clean (the common case: a list cell, a URL): it normalises to itself, and what the library's
        # validate() would still check is its check character (a third of the time validate() takes)
        return raw
    code = normalize_uscc(raw)
    try:
        return str(stdnum_uscc.validate(code))
    except InvalidLength:
        raise InvalidUSCC(
            f"统一社会信用代码应为18位，收到{len(code)}位 — a USCC has 18 characters, {code!r} has {len(code)}",
            field="uscc",
        ) from None
    except InvalidFormat:
        raise InvalidUSCC(_format_problem(code), field="uscc") from None
    except InvalidChecksum:
        expected = stdnum_uscc.calc_check_digit(code[:17])
        raise InvalidUSCC(
            f"第18位校验码应为'{expected}'，实为'{code[17]}' — check character 18 of {code} is "
            f"'{code[17]}', expected '{expected}'",
            field="uscc",
            expected_check_character=expected,
        ) from None
    except ValidationError as exc:  # any future verdict of the library
        raise InvalidUSCC(f"统一社会信用代码无效 — {code!r} is not a valid USCC: {exc}", field="uscc") from None


def _format_problem(code: str) -> str:
    for position, char in enumerate(code, start=1):
        if position <= 8 and not char.isdigit():
            return (
                f"第{position}位应为数字，实为'{char}' — character {position} of {code!r} must be a digit "
                f"(characters 1–8 are the authority, type and division codes)"
            )
        if position > 8 and char not in _USCC_ALPHABET:
            return (
                f"第{position}位'{char}'不是允许的字符 — character {position} of {code!r} is '{char}', "
                f"which GB 32100 does not use (allowed: {_USCC_ALPHABET})"
            )
    return f"统一社会信用代码格式错误 — {code!r} is not in the GB 32100 format"


def region_of_uscc(code: str) -> str:
    """Characters 3–8: the registering authority's division code."""
    return code[2:8]


@functools.lru_cache(maxsize=8192)
def region_name(code: str) -> str | None:
    """The current name of a GB/T 2260 code, or ``None`` if the code is unknown or abolished (cached: the
    stdnum lookup scans its table, ~0.1 ms a call, and an export names the region of every row)."""
    if not re.fullmatch(r"\d{6}", code):
        return None
    parts = numdb.get("cn/loc").info(code)
    if len(parts) != 2 or not parts[1][1]:
        return None
    province = parts[0][1].get("province", "")
    county = parts[1][1].get("county", "")
    current = _current_name(county)
    if current is None:
        return None
    return province if code.endswith("0000") else f"{province}{current}"


def region_full_name(code: str) -> str | None:
    """The name with its city: ``410106`` → 河南省郑州市上街区 (``region_name`` says 河南省上街区)."""
    name = region_name(code)
    if name is None or code.endswith("00"):
        return name
    city = numdb.get("cn/loc").info(code[:4] + "00")
    city_name = _current_name(city[1][1].get("county", "")) if len(city) == 2 and city[1][1] else None
    province = numdb.get("cn/loc").info(code)[0][1].get("province", "")
    if not city_name or city_name in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划") \
            or city_name.endswith("直辖县级行政单位") \
            or city_name == province:
        return name
    return province + city_name + name[len(province):]


def _current_name(history: str) -> str | None:
    """``'[1983-1993]郊区,[1994-]湛河区'`` → ``'湛河区'``; ``'[-2010]崇文区'`` → ``None`` (abolished)."""
    for entry in reversed(history.split(",")):
        match = re.fullmatch(r"(?:\[(\d*)-(\d*)\])?(.+)", entry.strip())
        if match and not match.group(2):
            return match.group(3)
    return None


def validate_region(code: str, *, field: str = "region_code") -> str:
    code = unicodedata.normalize("NFKC", code).strip()
    if not re.fullmatch(r"\d{6}", code):
        raise InvalidRegion(
            f"行政区划代码应为6位数字 — a GB/T 2260 division code has 6 digits, got {code!r}", field=field
        )
    if region_name(code) is None:
        raise InvalidRegion(
            f"行政区划代码{code}不存在或已撤销 — {code} is not a current GB/T 2260 division code", field=field
        )
    return code


def region_prefix(code: str) -> str:
    """The administrative prefix a code covers: province 2 digits, city 4, district 6."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


#: County-level codes (a province's 90xx "directly administered" block) that are governed as prefecture-level
#: cities: 济源 (济源产城融合示范区) is one of Henan's 18 city-level jurisdictions (17 省辖市 + 济源), with city-level
#: officials, though GB/T 2260 numbers it like a county. Its prefix stays the whole code: nothing lies below it.
CITY_LEVEL_COUNTY_CODES = frozenset({"419001"})


def region_level(code: str) -> str:
    """``province``, ``city`` or ``district``: the level of government that answers for the division."""
    if code in CITY_LEVEL_COUNTY_CODES:
        return "city"
    return {2: "province", 4: "city", 6: "district"}[len(region_prefix(code))]


def region_covers(scope: str | None, code: str) -> bool:
    """Whether a jurisdiction (``None`` = everywhere) covers a firm's division code."""
    return scope is None or code.startswith(region_prefix(scope))


#: GB/T 2260 rows that group divisions rather than name one (a city's "市辖区", a former "县" block).
_GROUPING_NAMES = frozenset({"市辖区", "县"})


def child_regions(code: str) -> list[str]:
    """The divisions one level below ``code``, as officials report: a province's cities (with the county-level
    codes governed as cities, 济源 419001, and any other directly administered 90xx division), a city's districts
    and counties; nothing below a district or 济源. Current codes only, in code order."""
    if region_level(code) == "district" or code in CITY_LEVEL_COUNTY_CODES:
        return []
    province = code[:2]
    children: list[str] = []
    for _length, low, _high, _props, entries in numdb.get("cn/loc").prefixes:
        if low != province:
            continue
        for _l, tail, _h, props, _e in entries:
            child = province + tail
            current = _current_name(props.get("county", ""))
            if current is None or current in _GROUPING_NAMES or child == code:
                continue
            if code.endswith("0000"):
                if (not tail.startswith("90") and tail.endswith("00") and tail != "0000") or (
                        tail.startswith("90") and tail != "9000"):
                    children.append(child)
            elif child.startswith(code[:4]) and not tail.endswith("00"):
                children.append(child)
    return sorted(children)
