"""A firm's annual indicator data (年度数据): one record per firm and data year, and its import from a sheet.

The record lives in ``annual_filings.indicators`` (the dynamic-management table), so **the indicator record
is the annual filing**: storing year Y's indicators when nothing was filed for Y yet files Y today, and the
``annual_data_overdue`` flag is recomputed exactly as :func:`pipeline.dynamic.obligations.record_filing`
does. A filing recorded earlier (``PUT …/filings/{year}``) keeps its date when its indicators arrive later.

``year`` is the **data year** (financial year Y, filed in Y+1). The eligibility engine's assessment year —
the year a firm applies, whose "上年度" is Y — is therefore Y+1 (:data:`ASSESSMENT_LAG`).

Values are checked by :func:`pipeline.eligibility.validate_indicators` (ratios are decimals: 5% is 0.05,
amounts yuan ≥ 0, counts whole, unknown keys refused naming the known ones) and stored as given — derived
ratios are recomputed on every read, never stored. Every change is an ``amendment`` event whose evidence
lists each changed key: ``{"indicators": {"year": Y, "changes": {key: {"from", "to"}}}}``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.dates import business_today, utc_now
from pipeline.dynamic.obligations import FIRST_FILING_YEAR, annual_deadline, refresh_firm
from pipeline.eligibility.engine import Award, IndicatorSpec, indicator_catalogue, validate_indicators
from pipeline.errors import InvalidInput, NotFound, PipelineError
from pipeline.firms import repository
from pipeline.identifiers import validate_uscc
from pipeline.imports.reading import HEADER_SEARCH_ROWS, IGNORED_HEADERS, ImportFile, header_key
from pipeline.json_numbers import MAX_SAFE_INTEGER, canonical_value
from pipeline.models import Enterprise, Event
from pipeline.models.dynamic import AnnualFiling
from pipeline.rulebooks import DATA_DIR, rulebook_in_force

HEADERS_FILE = DATA_DIR / "indicator_headers.toml"
ROW_FIELDS = ("uscc", "year", "name")


# --- values -------------------------------------------------------------------------------------------


def _stored(value: Any) -> Any:
    """A validated value in its JSON form (sets as sorted lists, awards as objects)."""
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple) and all(isinstance(item, Award) for item in value):
        return [{key: val for key, val in item._asdict().items() if val is not None} for item in value]
    return value


def check_values(values: Mapping[str, Any], region_code: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the values to store, the derived values) of one firm-year; raises InvalidInput naming the field.

    ``region_code`` (the firm's) also admits the indicators of the local overlays covering it (特色化 …).
    """
    values = {key: canonical_value(value, key) for key, value in values.items()}  # the hash chain's numbers
    try:
        clean = validate_indicators(values, region_code=region_code)
    except OverflowError:  # an integer too large for a float: JSON allows it, no indicator does
        key = next((k for k, v in values.items() if isinstance(v, int) and abs(v) > 1e300), "indicators")
        raise InvalidInput(f"指标 {key} 的数值过大 — indicator {key} is too large a number", field=key) from None
    given = {key: _stored(clean[key]) for key in values if key in clean}
    derived = {key: _stored(value) for key, value in clean.items() if key not in given}
    return given, derived


def derived_of(stored: Mapping[str, Any], region_code: str | None = None) -> dict[str, Any]:
    """The values the engine derives from a stored record (e.g. rd_ratio from rd_spend and revenue)."""
    try:
        return check_values(stored, region_code)[1]
    except InvalidInput:
        return {}


def check_data_year(year: int, today: dt.date) -> None:
    """Year Y's data exists from Y+1 on: the same window as an annual filing made today."""
    if not FIRST_FILING_YEAR <= year < today.year:
        raise InvalidInput(f"数据年度应在{FIRST_FILING_YEAR}至{today.year - 1}之间（{year}年度数据须在次年报送）— "
                           f"year {year} is out of range: data years run from {FIRST_FILING_YEAR} to "
                           f"{today.year - 1} (a year's figures are filed in the following year)", field="year")


# --- the record ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorRecord:
    uscc: str
    year: int
    filed_on: dt.date
    recorded_at: dt.datetime
    actor: str
    indicators: dict[str, Any]
    derived: dict[str, Any]


@dataclass(frozen=True)
class IndicatorsOutcome:
    enterprise: Enterprise
    record: IndicatorRecord
    event: Event | None
    """``None`` when the values equal the stored ones (a repeated PUT writes nothing)."""
    changes: dict[str, dict[str, Any]]


def _record(uscc: str, filing: AnnualFiling, derived: dict[str, Any] | None = None,
            region_code: str | None = None) -> IndicatorRecord:
    values = dict(filing.indicators or {})
    return IndicatorRecord(uscc, filing.year, filing.filed_on, filing.recorded_at, filing.actor, values,
                           derived_of(values, region_code) if derived is None else derived)


def _filing(session: Session, firm_id: int, year: int) -> AnnualFiling | None:
    return session.scalars(select(AnnualFiling).where(
        AnnualFiling.enterprise_id == firm_id, AnnualFiling.year == year)).one_or_none()


def record_indicators(session: Session, uscc: str, *, year: int, values: Mapping[str, Any], actor: Actor,
                      merge: bool = False, request_id: str | None = None) -> IndicatorsOutcome:
    """Store a firm's indicators for data year ``year`` as an audited amendment (one unit of work, flushed).

    ``merge=False`` (PUT) replaces the year's record: keys left out become unknown. ``merge=True`` (an import)
    sets only the given keys. ``None`` values mean "unknown" either way. Creates the year's annual filing
    (filed today) when there is none.
    """
    if not isinstance(values, Mapping):
        raise InvalidInput("指标应为 JSON 对象 — indicators must be a JSON object", field="indicators")
    firm = repository.get_enterprise(session, uscc, actor, for_update=True)
    today = business_today()
    day = max(today, firm.last_effective_date or today)
    rulebook = rulebook_in_force(day)
    require_permission(rulebook, actor, "amend")
    check_data_year(year, today)
    filing = _filing(session, firm.id, year)
    old = dict(filing.indicators or {}) if filing is not None else {}
    merged = {**old, **values} if merge else dict(values)
    new, derived = check_values({key: value for key, value in merged.items() if value is not None}, firm.region_code)
    changes = {key: {"from": old.get(key), "to": new.get(key)}
               for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)}
    if filing is not None and not changes:
        return IndicatorsOutcome(firm, _record(firm.uscc, filing, derived), None, {})
    if filing is None and not new:
        raise InvalidInput(f"没有指标数值 — no indicator values given for {year}; known indicators: "
                           f"{', '.join(indicator_catalogue())}", field="indicators")
    evidence: dict[str, Any] = {"indicators": {"year": year, "changes": changes}}
    if filing is None:
        deadline = annual_deadline(year)
        filing = AnnualFiling(enterprise_id=firm.id, year=year, filed_on=today, recorded_at=utc_now(),
                              actor=actor.id, indicators=new)
        session.add(filing)
        evidence["annual_filing"] = {"year": year, "filed_on": today.isoformat(), "deadline": deadline.isoformat(),
                                     "on_time": today <= deadline}
    else:
        filing.indicators = new
    session.flush()
    if "annual_filing" in evidence:
        refresh_firm(session, firm, today)
    event = repository.append_event(
        session, firm, kind="amendment", trigger=None, from_state=firm.state, effective_date=day, actor=actor,
        rulebook=rulebook, reason=f"{year}年度指标数据 — indicators for {year}: {len(changes)} changed",
        evidence=evidence, request_id=request_id,
    )
    return IndicatorsOutcome(firm, _record(firm.uscc, filing, derived), event, changes)


def get_indicators(session: Session, uscc: str, year: int, actor: Actor) -> IndicatorRecord:
    firm = repository.get_enterprise(session, uscc, actor)
    filing = _filing(session, firm.id, year)
    if filing is None or filing.indicators is None:
        raise NotFound(f"企业{firm.uscc}没有{year}年度指标数据 — no indicators of {firm.uscc} for {year}")
    return _record(firm.uscc, filing, region_code=firm.region_code)


def indicator_years(session: Session, uscc: str, actor: Actor) -> list[tuple[int, dt.date, int]]:
    """(data year, filed on, number of indicators) of every year with indicator data, newest first."""
    firm = repository.get_enterprise(session, uscc, actor)
    rows = session.execute(select(AnnualFiling.year, AnnualFiling.filed_on, AnnualFiling.indicators)
                           .where(AnnualFiling.enterprise_id == firm.id, AnnualFiling.indicators.is_not(None))
                           .order_by(AnnualFiling.year.desc()))
    return [(year, filed_on, len(values or {})) for year, filed_on, values in rows]


# --- the header map -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderMap:
    index: Mapping[str, str]
    """normalised header → indicator key or one of :data:`ROW_FIELDS`."""
    units: Mapping[str, Decimal]
    synonyms: Mapping[str, tuple[str, ...]]


@cache
def header_map() -> HeaderMap:
    raw = tomllib.loads(HEADERS_FILE.read_text(encoding="utf-8"))
    catalogue = indicator_catalogue()
    index: dict[str, str] = {}
    synonyms: dict[str, tuple[str, ...]] = {}
    for section in ("fields", "headers"):
        for key, names in raw[section].items():
            if section == "headers" and key not in catalogue:
                raise ValueError(f"{HEADERS_FILE.name}: {key!r} is not an indicator")
            synonyms[key] = tuple(names)
            for name in (*names, key):
                normal = header_key(name)
                if index.setdefault(normal, key) != key:
                    raise ValueError(f"{HEADERS_FILE.name}: header {name!r} maps to {index[normal]!r} and {key!r}")
    for key in catalogue:  # every indicator is readable under its own key
        index.setdefault(header_key(key), key)
    units = {header_key(unit): Decimal(str(factor)) for unit, factor in raw["units"].items()}
    return HeaderMap(index, units, synonyms)


def parse_map(pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``--map 'HEADER=key'`` items; key is an indicator key, uscc, year, name or ignore."""
    known = (*ROW_FIELDS, *indicator_catalogue(), "ignore")
    result = []
    for pair in pairs:
        header, sep, target = pair.partition("=")
        target = target.strip()
        if not sep or not header.strip() or target not in known:
            raise InvalidInput(f"列映射应为“表头=指标” — --map expects 'HEADER=key' with key an indicator, uscc, "
                               f"year, name or ignore; got {pair!r}", field="map")
        result.append((header_key(header), target))
    return tuple(sorted(set(result)))


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    target: str
    factor: Decimal | None


def _columns(cells: Sequence[Any], mapping: Mapping[str, str]) -> tuple[list[Column], list[str]] | None:
    table = header_map()
    columns: list[Column] = []
    ignored: list[str] = []
    skipped = {header_key(h) for h in IGNORED_HEADERS}
    for index, cell in enumerate(cells):
        text = str(cell).strip() if cell is not None else ""
        if not text:
            continue
        key = header_key(text)
        factor = None
        target = mapping.get(key) or table.index.get(key)
        if target is None:
            match = re.fullmatch(r"(.+)[(\[]([^()\[\]]+)[)\]]", key)
            if match and match.group(2) in table.units:
                base = match.group(1)
                target = mapping.get(base) or table.index.get(base)
                factor = table.units[match.group(2)]
        if target == "ignore" or (target is None and key in skipped):
            continue
        if target is None or any(c.target == target for c in columns):
            ignored.append(text)
            continue
        columns.append(Column(index, text, target, factor))
    if not any(c.target == "uscc" for c in columns):
        return None
    return columns, ignored


# --- cells --------------------------------------------------------------------------------------------

_TRUE = {"是", "有", "true", "yes", "y", "1", "√", "✓", "t"}
_FALSE = {"否", "无", "没有", "false", "no", "n", "0", "×", "✗", "f"}


def _number(cell: Any, factor: Decimal | None) -> Any:
    if isinstance(cell, bool):
        raise ValueError("应为数值 — must be a number")
    if isinstance(cell, int | float):
        if isinstance(cell, int) and abs(cell) > MAX_SAFE_INTEGER:
            raise ValueError(f"整数{cell}超出 ±(2^53−1) — the integer {cell} lies outside ±(2^53−1)")
        number = Decimal(str(cell))
    else:
        text = unicodedata.normalize("NFKC", str(cell)).replace(",", "").replace(" ", "")
        if re.fullmatch(r"[+-]?\d+", text) and abs(int(text)) > MAX_SAFE_INTEGER:
            raise ValueError(f"整数“{cell}”超出 ±(2^53−1) — the integer {cell!r} lies outside ±(2^53−1)")
        percent = text.endswith("%")
        try:
            number = Decimal(text.rstrip("%"))
        except InvalidOperation:
            raise ValueError(f"“{cell}”不是数值 — {cell!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"“{cell}”不是有限数值 — {cell!r} is not a finite number")
        if percent:
            number /= 100
    if factor is not None:
        number *= factor
    return int(number) if number == number.to_integral_value() and abs(number) < 10**15 else float(number)


def _code(cell: Any, spec: IndicatorSpec) -> str:
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    if text in spec.values:
        return text
    by_label = {unicodedata.normalize("NFKC", label): code for code, label in spec.values.items()}
    return by_label.get(text, text)  # an unknown code is named by the validator, with the allowed ones


def cell_value(cell: Any, spec: IndicatorSpec, factor: Decimal | None = None) -> Any:
    """A spreadsheet cell as the indicator's value; ``None`` for a blank cell (unknown). Raises ValueError."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if spec.type in ("number", "integer"):
        return _number(cell, factor)
    if spec.type == "bool":
        if isinstance(cell, bool):
            return cell
        text = unicodedata.normalize("NFKC", str(cell)).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(f"“{cell}”应为 是/否 — {cell!r} must be yes or no (是/否, true/false, 1/0)")
    if spec.type == "enum":
        return _code(cell, spec)
    if spec.type == "set":
        parts = re.split(r"[,，、;；\s]+", unicodedata.normalize("NFKC", str(cell)).strip())
        return [_code(part, spec) for part in parts if part]
    try:  # awards: a JSON list of {type, level, year, rank?}
        return json.loads(str(cell))
    except json.JSONDecodeError:
        raise ValueError(f"获奖记录应为 JSON 列表 — {spec.key} must be a JSON list of {{type, level, year, rank}}"
                         ) from None


# --- the import ---------------------------------------------------------------------------------------


@dataclass
class IndicatorRowReport:
    row: int
    uscc: str
    year: int | None
    status: str = "ok"
    """``ok`` (would change / changed), ``unchanged``, or ``problem``."""
    changed: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class IndicatorImportReport:
    file_name: str
    file_sha256: str
    dry_run: bool
    applied: bool = False
    rows: int = 0
    ok: int = 0
    unchanged: int = 0
    problems: int = 0
    events: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    """header as written → indicator key (or uscc / year / name)."""
    ignored_headers: list[str] = field(default_factory=list)
    items: list[IndicatorRowReport] = field(default_factory=list)


@dataclass
class _Planned:
    report: IndicatorRowReport
    values: dict[str, Any]


def _rows(source: ImportFile, mapping: Mapping[str, str], report: IndicatorImportReport,
          ) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(row number, cells by target, cell problems) of each data row."""
    catalogue = indicator_catalogue()
    columns: list[Column] | None = None
    for number, cells in source.cells():
        if columns is None:
            found = _columns(cells, mapping)
            if found is None:
                if number >= HEADER_SEARCH_ROWS:
                    break
                continue
            columns, report.ignored_headers = found
            report.columns = {c.header: c.target for c in columns}
            continue
        row: dict[str, Any] = {}
        problems: list[str] = []
        for column in columns:
            cell = cells[column.index] if column.index < len(cells) else None
            if column.target in ROW_FIELDS:
                row[column.target] = "" if cell is None else str(cell).strip()
                continue
            try:
                row[column.target] = cell_value(cell, catalogue[column.target], column.factor)
            except ValueError as exc:
                problems.append(f"{column.header}: {exc}")
        if not row.get("uscc") and all(v in (None, "") for k, v in row.items() if k not in ("uscc", "name")):
            continue  # a blank row, or a note under the table
        yield number, row, problems
    if columns is None:
        raise InvalidInput(f"前{HEADER_SEARCH_ROWS}行中未找到含“统一社会信用代码”的表头行 — no header row with a USCC "
                           f"column in the first {HEADER_SEARCH_ROWS} rows; name it with --map 'HEADER=uscc'",
                           field="file")


def _row_year(raw: Any, default: int | None) -> int:
    text = unicodedata.normalize("NFKC", str(raw or "")).strip().removesuffix("年度").removesuffix("年")
    if not text:
        if default is None:
            raise InvalidInput("缺少年度（表中无“年度”列时请指定 --year）— no year: add a 年度 column or give --year",
                               field="year")
        return default
    try:
        return int(float(text))
    except ValueError:
        raise InvalidInput(f"年度“{raw}”不是年份 — year {raw!r} is not a year", field="year") from None


def _plan_row(session: Session, actor: Actor, number: int, row: dict[str, Any], cell_problems: list[str],
              default_year: int | None, today: dt.date, seen: set[tuple[str, int]]) -> _Planned:
    report = IndicatorRowReport(row=number, uscc=str(row.get("uscc") or ""), year=None)
    values = {key: value for key, value in row.items() if key not in ROW_FIELDS and value is not None}
    try:
        if cell_problems:
            raise InvalidInput("; ".join(cell_problems))
        report.uscc = validate_uscc(report.uscc)
        report.year = _row_year(row.get("year"), default_year)
        check_data_year(report.year, today)
        if (report.uscc, report.year) in seen:
            raise InvalidInput(f"{report.uscc} 的 {report.year} 年度数据在文件中重复 — {report.uscc} {report.year} "
                               f"appears more than once in the file")
        seen.add((report.uscc, report.year))
        firm = session.execute(select(Enterprise.id, Enterprise.region_code)
                               .where(Enterprise.uscc == report.uscc)).one_or_none()
        if firm is None or not actor.covers(firm.region_code):
            raise NotFound(f"未找到企业{report.uscc} — no enterprise {report.uscc} in your jurisdiction")
        stored = session.scalars(select(AnnualFiling.indicators).where(
            AnnualFiling.enterprise_id == firm.id, AnnualFiling.year == report.year)).one_or_none() or {}
        new, _ = check_values({**stored, **values}, firm.region_code)
        report.changed = sorted(key for key in new.keys() | stored.keys() if new.get(key) != stored.get(key))
        if not report.changed:
            report.status = "unchanged"
    except PipelineError as exc:
        report.status, report.problem = "problem", exc.detail
    return _Planned(report, values)


def import_indicators(session: Session, source: ImportFile, *, actor: Actor, year: int | None = None,
                      mapping: Sequence[tuple[str, str]] = (), apply: bool = False,
                      request_id: str | None = None) -> IndicatorImportReport:
    """Check every row of an indicator sheet; with ``apply`` write them all, or nothing if any row has a problem.

    Each row sets the indicators of its columns for (USCC, year) — blank cells leave a stored value as it is —
    through :func:`record_indicators` (one amendment event per changed firm-year).
    """
    today = business_today()
    require_permission(rulebook_in_force(today), actor, "amend")
    if year is not None:
        check_data_year(year, today)
    report = IndicatorImportReport(source.file_name, source.sha256, dry_run=not apply)
    seen: set[tuple[str, int]] = set()
    planned = [_plan_row(session, actor, number, row, problems, year, today, seen)
               for number, row, problems in _rows(source, dict(mapping), report)]
    report.items = [plan.report for plan in planned]
    statuses = [item.status for item in report.items]
    report.rows = len(statuses)
    report.ok, report.unchanged, report.problems = (statuses.count(s) for s in ("ok", "unchanged", "problem"))
    if not apply or report.problems:
        return report
    for plan in planned:
        if plan.report.status == "ok":
            assert plan.report.year is not None
            outcome = record_indicators(session, plan.report.uscc, year=plan.report.year, values=plan.values,
                                        actor=actor, merge=True, request_id=request_id)
            report.events += outcome.event is not None
    report.applied = True
    return report
