"""A recognised firm's duties (企业义务): file its data every year, report major changes in time.

Two flags follow from them, kept in ``enterprise.flags`` beside other features' marks:

``annual_data_overdue``
    Year Y's data is due by the rulebook's ``annual_data_deadline`` (month-day) **in year Y+1** — the
    2022 practice "每年4月30日前更新上一年度数据", 31 May under the 2026 measures. The deadline of year Y
    is taken from the rulebook in force on that deadline date. A firm is bound if it held a title on the
    deadline. The flag concerns the latest year whose deadline has passed: it is set when that year was
    not filed by the deadline (a late filing is recorded but does not lift it) and clears when the next
    deadline passes with that year filed on time. It costs the firm its re-review eligibility.
``late_change_report``
    A major change reported later than ``occurred_on`` + ``major_change_window_months`` (3 months): a
    report on the last day of the window is on time. The flag lists every late report and stays.

**Stored, and exact on any day.** Flags are stored so they show on the firm wherever it is read; they
are recomputed on each filing and each report (both only change then) and, for the annual flag, which
also changes with the calendar, by :func:`refresh_annual_flags` — run by every applied sweep, i.e. daily
under the schedule in docs/scheduling.md. The re-review worklist recomputes the annual flag at read
time, so it is right even on a day the sweep did not run.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from pipeline.access import Actor, require_permission
from pipeline.dates import business_today, utc_now
from pipeline.errors import InvalidInput
from pipeline.firms import repository, service
from pipeline.lifecycle import guards
from pipeline.lifecycle.events import EventRecord
from pipeline.models import Enterprise, Event, Recognition
from pipeline.models.dynamic import AnnualFiling
from pipeline.rulebooks import DATA_DIR, Rulebook, all_rulebooks, rulebook_in_force

ANNUAL_DATA_OVERDUE = "annual_data_overdue"
LATE_CHANGE_REPORT = "late_change_report"
FLAGS = (ANNUAL_DATA_OVERDUE, LATE_CHANGE_REPORT)
RELOCATION = "relocation_out_of_province"
FIRST_FILING_YEAR = 2000


# --- the rules --------------------------------------------------------------------------------------------


@cache
def _change_kinds(rulebook_id: str) -> dict[str, str]:
    main = tomllib.loads((DATA_DIR / rulebook_id / "rulebook.toml").read_text(encoding="utf-8"))
    return dict(main.get("change_kinds", {}))


def change_kinds(rulebook: Rulebook) -> Mapping[str, str]:
    """The rulebook's catalogue of reportable major changes, kind → Chinese label."""
    return _change_kinds(rulebook.id)


def annual_deadline(year: int) -> dt.date:
    """The day by which year ``year``'s data must be filed: in ``year + 1``, by the rulebook then in force."""
    for book in reversed(all_rulebooks()):
        month, day = book.annual_data_deadline
        deadline = dt.date(year + 1, month, day)
        if rulebook_in_force(deadline).id == book.id:
            return deadline
    month, day = all_rulebooks()[0].annual_data_deadline
    return dt.date(year + 1, month, day)


def latest_closed_year(today: dt.date) -> int:
    """The latest data year whose filing deadline has passed by ``today``."""
    year = today.year - 1
    return year if annual_deadline(year) < today else year - 1


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day ``months`` later; the 31st of a shorter month becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def change_report_due(occurred_on: dt.date) -> dt.date:
    """The last day a major change that happened on ``occurred_on`` may be reported on time."""
    return add_months(occurred_on, rulebook_in_force(occurred_on).major_change_window_months)


def annual_flag(titles: Iterable[guards.TitleLike], filings: Mapping[int, dt.date], today: dt.date,
                ) -> dict[str, Any] | None:
    """The ``annual_data_overdue`` flag of a firm on ``today``, or ``None``: see the module docstring."""
    year = latest_closed_year(today)
    deadline = annual_deadline(year)
    if not any(t.valid_on(deadline) for t in titles):
        return None
    filed_on = filings.get(year)
    if filed_on is not None and filed_on <= deadline:
        return None
    return {"year": year, "deadline": deadline.isoformat(), "filed_on": filed_on.isoformat() if filed_on else None}


def with_flag(flags: Mapping[str, Any] | None, name: str, value: Any) -> dict[str, Any]:
    """A new flags dict with one flag set (or removed, for ``None``); other features' flags are kept."""
    result = {key: val for key, val in (flags or {}).items() if key != name}
    if value is not None:
        result[name] = value
    return result


def _filings_of(session: Session, enterprise_id: int) -> dict[int, dt.date]:
    rows = session.execute(select(AnnualFiling.year, AnnualFiling.filed_on)
                           .where(AnnualFiling.enterprise_id == enterprise_id))
    return {year: filed_on for year, filed_on in rows}


def refresh_firm(session: Session, firm: Enterprise, today: dt.date) -> None:
    value = annual_flag(firm.recognitions, _filings_of(session, firm.id), today)
    if (firm.flags or {}).get(ANNUAL_DATA_OVERDUE) != value:
        firm.flags = with_flag(firm.flags, ANNUAL_DATA_OVERDUE, value)


# --- annual filings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilingOutcome:
    enterprise: Enterprise
    filing: AnnualFiling
    event: Event | None
    """``None`` when the same filing was already on record (a repeated PUT writes nothing)."""
    on_time: bool
    deadline: dt.date


def record_filing(session: Session, uscc: str, *, year: int, filed_on: dt.date, actor: Actor,
                  request_id: str | None = None) -> FilingOutcome:
    """Record that a firm filed year ``year``'s data on ``filed_on``, as an audited amendment event."""
    firm = repository.get_enterprise(session, uscc, actor, for_update=True)
    today = business_today()
    day = max(today, firm.last_effective_date or today)
    require_permission(rulebook_in_force(day), actor, "amend")
    if filed_on > today:
        raise InvalidInput(f"报送日期{filed_on}晚于今天{today} — filed_on {filed_on} is in the future",
                           field="filed_on")
    if not FIRST_FILING_YEAR <= year < filed_on.year:
        raise InvalidInput(f"{year}年度数据须在次年及以后报送 — year {year}'s data is filed from {year + 1} on; "
                           f"filed_on {filed_on} is too early (years {FIRST_FILING_YEAR}–{today.year - 1})",
                           field="year")
    deadline = annual_deadline(year)
    filing = session.scalars(select(AnnualFiling).where(
        AnnualFiling.enterprise_id == firm.id, AnnualFiling.year == year)).one_or_none()
    if filing is not None and filing.filed_on == filed_on:
        return FilingOutcome(firm, filing, None, filed_on <= deadline, deadline)
    previous = filing.filed_on if filing is not None else None
    if filing is None:
        filing = AnnualFiling(enterprise_id=firm.id, year=year, filed_on=filed_on, recorded_at=utc_now(),
                              actor=actor.id)
        session.add(filing)
    else:
        filing.filed_on, filing.recorded_at, filing.actor = filed_on, utc_now(), actor.id
    session.flush()
    refresh_firm(session, firm, today)
    record: dict[str, Any] = {"year": year, "filed_on": filed_on.isoformat(), "deadline": deadline.isoformat(),
                              "on_time": filed_on <= deadline}
    if previous is not None:
        record["previous_filed_on"] = previous.isoformat()
    event = repository.append_event(
        session, firm, kind="amendment", trigger=None, from_state=firm.state, effective_date=day, actor=actor,
        rulebook=rulebook_in_force(day), reason=f"{year}年度数据报送 — annual data for {year} filed on {filed_on}",
        evidence={"annual_filing": record}, request_id=request_id,
    )
    return FilingOutcome(firm, filing, event, filed_on <= deadline, deadline)


def refresh_annual_flags(session: Session, today: dt.date, region_prefix: str | None = None,
                         chunk: int = 500) -> tuple[int, int]:
    """Bring every stored ``annual_data_overdue`` flag up to ``today``; return (set, cleared) counts.

    Set-based: one query for the firms that should carry the flag, one for those that do; only the
    difference is written, each firm under its row lock.
    """
    year = latest_closed_year(today)
    deadline = annual_deadline(year)
    bound = exists().where(
        Recognition.enterprise_id == Enterprise.id, Recognition.recognized_on <= deadline,
        Recognition.valid_until >= deadline,
        (Recognition.ended_on.is_(None)) | (Recognition.ended_on > deadline))
    on_time = exists().where(and_(AnnualFiling.enterprise_id == Enterprise.id, AnnualFiling.year == year,
                                  AnnualFiling.filed_on <= deadline))
    should = select(Enterprise.id).where(bound, ~on_time)
    carrying = select(Enterprise.id, Enterprise.flags).where(
        Enterprise.flags[ANNUAL_DATA_OVERDUE].as_string().is_not(None))
    if region_prefix:
        should = should.where(Enterprise.region_code.startswith(region_prefix))
        carrying = carrying.where(Enterprise.region_code.startswith(region_prefix))
    should_ids = set(session.scalars(should))
    current = {row_id: (flags or {}).get(ANNUAL_DATA_OVERDUE) for row_id, flags in session.execute(carrying)}
    stale = sorted(i for i in should_ids if _flag_year(current.get(i)) != year)
    cleared = sorted(set(current) - should_ids)
    for ids in _chunks([*stale, *cleared], chunk):
        firms = session.scalars(select(Enterprise).where(Enterprise.id.in_(ids)).order_by(Enterprise.id)
                                .with_for_update().execution_options(populate_existing=True))
        for firm in firms:
            refresh_firm(session, firm, today)
        session.flush()
    return len(stale), len(cleared)


def _flag_year(flag: Any) -> Any:
    return flag.get("year") if isinstance(flag, dict) else None


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- major-change reports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeOutcome:
    enterprise: Enterprise
    event: Event
    late: bool
    due_by: dt.date
    removal: Event | EventRecord | None


def report_change(session: Session, uscc: str, *, kind: str, occurred_on: dt.date, detail: str, actor: Actor,
                  remove_from_pool: bool = False, document_no: str | None = None,
                  request_id: str | None = None) -> ChangeOutcome:
    """Record a major-change report (an amendment event); flag it when late.

    A move out of the province with ``remove_from_pool`` also fires ``remove`` (reason ``relocated``) on
    the same date, in the same transaction; without it the official removes the firm separately.
    """
    firm = repository.get_enterprise(session, uscc, actor, for_update=True)
    today = business_today()
    day = max(today, firm.last_effective_date or today)
    rulebook = rulebook_in_force(day)
    require_permission(rulebook, actor, "amend")
    kinds = change_kinds(rulebook)
    if kind not in kinds:
        raise InvalidInput(f"未知的重大变化类型'{kind}' — unknown change kind {kind!r}; kinds in {rulebook.id}: "
                           f"{', '.join(kinds)}", field="kind")
    if occurred_on > today:
        raise InvalidInput(f"发生日期{occurred_on}晚于今天{today} — occurred_on {occurred_on} is in the future",
                           field="occurred_on")
    detail = detail.strip()
    if not detail:
        raise InvalidInput("请说明变化内容 — detail must describe the change", field="detail")
    if remove_from_pool and kind != RELOCATION:
        raise InvalidInput(f"只有迁出本省可同时移出培育库 — remove_from_pool applies to {RELOCATION} only",
                           field="remove_from_pool")
    due_by = change_report_due(occurred_on)
    late = today > due_by
    record = {"kind": kind, "label": kinds[kind], "occurred_on": occurred_on.isoformat(),
              "reported_on": today.isoformat(), "due_by": due_by.isoformat(), "late": late, "detail": detail}
    if late:
        earlier = list((firm.flags or {}).get(LATE_CHANGE_REPORT) or [])
        entry = {key: record[key] for key in ("kind", "occurred_on", "reported_on", "due_by")}
        firm.flags = with_flag(firm.flags, LATE_CHANGE_REPORT, [*earlier, {**entry, "seq": firm.last_seq + 1}])
    event = repository.append_event(
        session, firm, kind="amendment", trigger=None, from_state=firm.state, effective_date=day, actor=actor,
        rulebook=rulebook, reason=f"重大变化报告：{kinds[kind]} — major change reported: {kind}",
        evidence={"major_change": record}, request_id=request_id,
    )
    removal = None
    if remove_from_pool:
        removal = service.transition(
            session, firm.uscc, trigger="remove", effective_date=day, actor=actor, reason_code="relocated",
            reason=f"迁出本省（{occurred_on}）：{detail}", request_id=request_id,
            evidence={"change_report_seq": event.seq, "occurred_on": occurred_on.isoformat(),
                      "document_no": document_no},  # a titled firm's removal needs it (the guard says so)
        ).event
    return ChangeOutcome(firm, event, late, due_by, removal)
