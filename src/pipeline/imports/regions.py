"""Region cells: a 6-digit GB/T 2260 code, or a name as lists print it (郑州市上街区, 上街区, 河南省郑州市)."""

from __future__ import annotations

import re
from functools import cache

from stdnum import numdb

from pipeline.errors import InvalidRegion
from pipeline.identifiers import _current_name, validate_region

AMBIGUOUS = ""
"""Marks a name that several current divisions share (鼓楼区): it needs the city in front, or a code."""


@cache
def _name_index() -> dict[str, str]:
    """Every spelling of every current division → its code (``AMBIGUOUS`` when spellings collide)."""
    index: dict[str, str] = {}

    def add(name: str, code: str) -> None:
        index[name] = code if index.get(name, code) == code else AMBIGUOUS

    for _, province_code, _, province_info, children in numdb.get("cn/loc").prefixes:
        province = province_info.get("province", "")
        names = {rest: _current_name(info.get("county", "")) for _, rest, _, info, _ in children}
        for rest, name in names.items():
            if not name or name in ("市辖区", "县", "省直辖县级行政区划"):
                continue
            code = province_code + rest
            if rest == "0000":
                add(province, code)
                continue
            city = names.get(rest[:2] + "00") if not rest.endswith("00") else None
            city = city if city and city not in ("市辖区", "县") else None
            for spelling in {name, province + name, *((city + name, province + city + name) if city else ())}:
                add(spelling, code)
    return index


@cache
def _valid_code(code: str) -> str:
    return validate_region(code)  # stdnum's table lookup is slow (~0.4 ms); a list repeats a few codes


def resolve_region(text: str) -> str:
    """The division code for a region cell, or :class:`InvalidRegion` saying why it is not known."""
    cleaned = re.sub(r"\s+", "", text)
    if re.fullmatch(r"\d{6}", cleaned):
        return _valid_code(cleaned)
    code = _name_index().get(cleaned)
    if code == AMBIGUOUS:
        raise InvalidRegion(f"地区名称“{cleaned}”对应多个区划，请写明所属市或填区划代码 — region name {cleaned!r} "
                            f"matches several divisions; prefix the city or give the 6-digit code", field="region")
    if code is None:
        raise InvalidRegion(f"未知地区“{cleaned}” — unknown region {cleaned!r}: neither a current GB/T 2260 code nor "
                            f"the name of one", field="region")
    return code
