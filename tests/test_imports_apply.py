"""Importing lists: dry run equals apply, all or nothing, evidence on every event, re-import is a no-op."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from helpers import ADMIN, CITY, DISTRICT, Factory, bring_to, enroll, events, footprint, load, make_uscc
from imports_support import bad_check, by_row, do_import, messy, write_csv, write_xlsx
from sqlalchemy import func, select

from pipeline.models import Enterprise, Event

A, B, C = (make_uscc("410106", n) for n in (1, 2, 3))
OUTSIDE = make_uscc("411200", 9)  # 三门峡, outside Zhengzhou


def _firms(factory: Factory) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


def _events(factory: Factory) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def test_enroll_dry_run_reports_and_writes_nothing_then_apply_writes_the_same(
        session_factory: Factory, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "培育库.xlsx", [
        (1, messy(A), "甲公司", "郑州市上街区", "2025-01-10", ""),
        (2, B, "乙公司", "", "", ""),
    ])
    planned, plan_rows = do_import(session_factory, path, CITY, "enroll", effective_date=None)
    assert (planned.rows, planned.ok, planned.problems, planned.applied) == (2, 2, 0, False)
    assert _firms(session_factory) == 0
    applied, apply_rows = do_import(session_factory, path, CITY, "enroll", apply=True)
    assert applied.applied
    assert applied.run_id is not None
    assert [(r.row, r.uscc, r.status, r.outcome) for r in apply_rows] == \
           [(r.row, r.uscc, r.status, r.outcome) for r in plan_rows]
    assert plan_rows[0].outcome == "enroll → reserve (2025-01-10)"
    firm = load(session_factory, A)
    assert (firm.state, firm.name, firm.region_code) == ("reserve", "甲公司", "410106")
    [event] = events(session_factory, A)
    assert event.effective_date.isoformat() == "2025-01-10"
    assert event.evidence["import"] == {"file_name": "培育库.xlsx", "file_sha256": applied.file_sha256, "row": 3,
                                        "run": applied.run_id}
    assert event.actor == CITY.id


def test_any_bad_row_writes_nothing_and_every_bad_row_is_named(session_factory: Factory, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "名单.csv", [
        (1, A, "甲公司", "", "2025-01-10", ""),
        (2, bad_check(B), "乙公司", "", "2025-01-10", ""),
        (3, A, "甲公司（重复）", "", "2025-01-10", ""),
        (4, C, "丙公司", "火星", "2025-01-10", ""),
        (5, OUTSIDE, "三门峡公司", "", "2025-01-10", ""),
    ])
    summary, rows = do_import(session_factory, path, CITY, "enroll", apply=True)
    assert not summary.applied
    assert (summary.ok, summary.problems) == (1, 4)
    report = by_row(rows)
    assert report[3].status == "ok"
    assert "check character 18" in (report[4].problem or "")
    assert "expected" in (report[4].problem or "")
    assert "duplicate of row 3" in (report[5].problem or "")
    assert "unknown region" in (report[6].problem or "")
    assert "outside your jurisdiction" in (report[7].problem or "")
    assert (_firms(session_factory), _events(session_factory)) == (0, 0)


def test_recognitions_judge_each_firm_by_its_state(session_factory: Factory, tmp_path: Path) -> None:
    bring_to(session_factory, A, "innovative")
    bring_to(session_factory, B, "reserve")
    path = write_xlsx(tmp_path / "省级.xlsx", [
        (1, A, "甲公司", "", "2023-06-30", ""),
        (2, B, "乙公司", "", "2023-06-30", ""),
        (3, C, "丙公司", "", "2023-06-30", ""),
    ])
    _summary, rows = do_import(session_factory, path, CITY, "recognize_provincial", batch="2023-豫-1")
    report = by_row(rows)
    assert report[3].outcome == "recognize_provincial: innovative → provincial (2023-06-30)"
    assert "not allowed from state 'reserve'" in (report[4].problem or "")
    assert "enroll it first" in (report[5].problem or "")
    before = footprint(session_factory, A)
    do_import(session_factory, path, CITY, "recognize_provincial", batch="2023-豫-1", apply=True)
    assert footprint(session_factory, A) == before  # all or nothing: A's good row was not written either


def test_a_recognition_list_names_a_wrong_check_character_even_when_it_repeats(
        session_factory: Factory, tmp_path: Path) -> None:
    # the codes of stored firms are looked up before their check characters are checked: a code nobody holds is
    # still checked, and told apart from one that is merely not enrolled
    bring_to(session_factory, A, "innovative")
    path = write_csv(tmp_path / "省级.csv", [
        (1, A, "甲公司", "", "2023-06-30", ""),
        (2, bad_check(B), "乙公司", "", "2023-06-30", ""),
        (3, bad_check(B), "乙公司（重复）", "", "2023-06-30", ""),
        (4, C, "丙公司", "", "2023-06-30", ""),
    ])
    summary, rows = do_import(session_factory, path, CITY, "recognize_provincial", batch="2023-豫-1", apply=True)
    assert (summary.ok, summary.problems, summary.applied) == (1, 3, False)
    report = by_row(rows)
    assert report[3].status == "ok"
    for row in (4, 5):
        assert "check character 18" in (report[row].problem or ""), report[row]
    assert "enroll it first" in (report[6].problem or "")


def test_a_clean_recognition_list_is_applied_with_the_rows_evidence(session_factory: Factory, tmp_path: Path) -> None:
    for code in (A, B):
        bring_to(session_factory, code, "innovative")
    path = write_csv(tmp_path / "省级.csv", [
        (1, A, "甲公司", "", "2023-06-30", "豫工信企业〔2023〕88号"),
        (2, B, "乙公司", "", "", ""),
    ])
    summary, _ = do_import(session_factory, path, CITY, "recognize_provincial", batch="2023-豫-1",
                           effective_date=dt.date(2023, 7, 1), apply=True)
    assert summary.applied
    assert summary.events == 2
    a_event, b_event = events(session_factory, A)[-1], events(session_factory, B)[-1]
    assert a_event.trigger == "recognize_provincial"
    assert a_event.effective_date.isoformat() == "2023-06-30"
    assert a_event.evidence["document_no"] == "豫工信企业〔2023〕88号"
    assert a_event.evidence["batch"] == "2023-豫-1"
    assert b_event.effective_date.isoformat() == "2023-07-01"  # no date in the row: --effective-date
    assert b_event.evidence["import"]["row"] == 4
    assert load(session_factory, A).state == "provincial"
    assert a_event.prev_hash == events(session_factory, A)[-2].hash  # the chain continues


def test_reimporting_the_same_file_changes_nothing(session_factory: Factory, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "培育库.csv", [(1, A, "甲公司", "", "2025-01-10", ""),
                                               (2, B, "乙公司", "", "2025-01-10", "")])
    first, _ = do_import(session_factory, path, ADMIN, "enroll", apply=True)
    again, rows = do_import(session_factory, path, ADMIN, "enroll", apply=True)
    assert not again.applied
    assert again.already_imported_by == first.run_id
    assert [r.status for r in rows] == ["unchanged", "unchanged"]
    assert "already imported" in rows[0].outcome
    assert _events(session_factory) == 2
    # Another file naming the same firms: each row says the firm is already there, and nothing is written.
    other = write_csv(tmp_path / "培育库-2.csv", [(1, A, "甲公司", "", "2025-02-01", "")])
    summary, [row] = do_import(session_factory, other, ADMIN, "enroll", apply=True)
    assert row.status == "unchanged"
    assert summary.applied
    assert _events(session_factory) == 2


def test_a_district_official_cannot_import_recognitions_or_firms_of_other_districts(
        session_factory: Factory, tmp_path: Path) -> None:
    bring_to(session_factory, A, "reserve")
    elsewhere, absent = make_uscc("410102", 5), make_uscc("410102", 6)  # 中原区: Zhengzhou, not 上街区
    enroll(session_factory, elsewhere)
    path = write_csv(tmp_path / "l.csv", [(1, A, "甲公司", "", "2023-06-30", "文号1"),
                                          (2, elsewhere, "中原公司", "", "2023-06-30", "文号2"),
                                          (3, absent, "中原公司2", "", "2023-06-30", "文号3")])
    _, rows = do_import(session_factory, path, DISTRICT, "recognize_innovative")
    report = by_row(rows)
    assert "permissions.recognize_innovative allows" in (report[3].problem or "")
    # A firm in another district reads exactly like one that does not exist: nothing leaks.
    assert (report[4].problem or "").replace(elsewhere, "X") == (report[5].problem or "").replace(absent, "X")
    assert "outside your jurisdiction" in (report[4].problem or "")
