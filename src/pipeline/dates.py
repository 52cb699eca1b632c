"""Business dates. Decisions are dated in China Standard Time; recorded times are UTC."""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from pipeline.errors import InvalidInput

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def business_today() -> dt.date:
    return dt.datetime.now(BUSINESS_TZ).date()


def add_years(day: dt.date, years: int) -> dt.date:
    """Same month and day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@functools.lru_cache(maxsize=1024)
def validity_end(start: dt.date, years: int) -> dt.date:
    """A title recognised on 2021-01-01 for 3 years is valid through 2023-12-31. (Remembered: a list's rows
    share their decision date.)"""
    return add_years(start, years) - dt.timedelta(days=1)


def parse_date(value: str, *, field: str) -> dt.date:

    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"日期格式应为YYYY-MM-DD — {field} must be a date YYYY-MM-DD, got {value!r}",
                           field=field) from None
