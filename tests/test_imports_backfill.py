"""Backfill: past recognitions with their own dates, applied per firm in date order, lapsed titles expired."""

from __future__ import annotations

from pathlib import Path

from helpers import CITY, Factory, enroll, events, load, make_uscc
from imports_support import by_row, do_import, write_xlsx

A, B, C = (make_uscc("410106", n) for n in (11, 12, 13))
HEADER = ("统一社会信用代码", "企业名称", "称号", "认定日期", "有效期至", "批次")


def test_rows_of_a_firm_are_applied_in_date_order_with_their_original_dates(
        session_factory: Factory, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "历史.xlsx", [
        (A, "甲公司", "专精特新“小巨人”企业", "2021-07-01", "2024-06-30", "第三批", ""),
        (B, "乙公司", "创新型中小企业", "2020-01-01", "", "2020-豫-创新", ""),
        (A, "甲公司", "创新型中小企业", "2019-03-01", "", "2019-豫-创新", ""),
        # a re-review (renew) needs its document number; a batch alone is refused (issue 13, correction 4)
        (A, "甲公司", "国家级专精特新“小巨人”企业", "2024-06-01", "", "复核2024", "工信厅企业函〔2024〕复核"),
        (A, "甲公司", "省级专精特新中小企业", "2020-05-01", "", "2020-豫-1", ""),
    ], header=(*HEADER, "文号"))
    summary, rows = do_import(session_factory, path, CITY, "backfill", apply=True)
    assert summary.applied, rows
    history = events(session_factory, A)
    assert [(e.trigger, e.effective_date.isoformat()) for e in history] == [
        ("enroll", "2019-03-01"), ("recognize_innovative", "2019-03-01"), ("recognize_provincial", "2020-05-01"),
        ("recognize_national", "2021-07-01"), ("renew", "2024-06-01"),
    ]
    assert [e.evidence["import"]["row"] for e in history] == [5, 5, 7, 3, 6]
    firm = load(session_factory, A)
    assert firm.state == "national"
    national = [t for t in firm.recognitions if t.tier == "national"]
    assert [(t.recognized_on.isoformat(), t.valid_until.isoformat(), t.batch) for t in national] == [
        ("2021-07-01", "2024-06-30", "第三批"), ("2024-06-01", "2027-06-30", "复核2024")]
    assert by_row(rows)[3].outcome == "recognize_national: provincial → national (2021-07-01)"


def test_a_lapsed_title_is_expired_the_day_after_it_ended(session_factory: Factory, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "历史.xlsx", [(B, "乙公司", "创新型", "2020-01-01", "", "2020-豫-创新")],
                      header=HEADER)
    summary, [row] = do_import(session_factory, path, CITY, "backfill", apply=True)
    assert summary.applied
    assert [(e.trigger, e.effective_date.isoformat(), e.actor) for e in events(session_factory, B)] == [
        ("enroll", "2020-01-01", CITY.id), ("recognize_innovative", "2020-01-01", CITY.id),
        ("expire", "2023-01-01", "system")]
    assert load(session_factory, B).state == "reserve"
    assert "expire: innovative → reserve (2023-01-01)" in row.outcome


def test_history_older_than_a_firms_latest_event_is_refused_with_the_guards_words(
        session_factory: Factory, tmp_path: Path) -> None:
    enroll(session_factory, C, "2025-01-10")
    path = write_xlsx(tmp_path / "历史.xlsx", [(C, "丙公司", "创新型中小企业", "2020-01-01", "", "x")], header=HEADER)
    summary, [row] = do_import(session_factory, path, CITY, "backfill", apply=True)
    assert not summary.applied
    assert "before the firm's latest event (2025-01-10)" in (row.problem or "")
    assert len(events(session_factory, C)) == 1


def test_a_backfill_row_without_a_known_title_or_date_is_a_problem(session_factory: Factory, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "历史.xlsx", [(A, "甲公司", "单项冠军", "2020-01-01", "", ""),
                                               (B, "乙公司", "创新型", "", "", "")], header=HEADER)
    _, rows = do_import(session_factory, path, CITY, "backfill")
    assert "unknown title" in (by_row(rows)[3].problem or "")
    assert "认定日期" in (by_row(rows)[4].problem or "")


def test_backfilling_the_same_history_from_another_file_changes_nothing(
        session_factory: Factory, tmp_path: Path) -> None:
    rows = [(A, "甲公司", "创新型中小企业", "2025-03-01", "", "2025-豫-创新")]
    do_import(session_factory, write_xlsx(tmp_path / "a.xlsx", rows, header=HEADER), CITY, "backfill", apply=True)
    summary, [row] = do_import(session_factory, write_xlsx(tmp_path / "b.xlsx", rows, header=HEADER, title="另一份"),
                               CITY, "backfill", apply=True)
    assert row.status == "unchanged"
    assert summary.events == 0
    assert len(events(session_factory, A)) == 2
