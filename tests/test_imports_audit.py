"""Bulk-written imports keep the audit trail intact: the chain verifies, replay gives the stored firm, and the
events reach the change feed — whether they came in by COPY (PostgreSQL) or executemany (SQLite)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from helpers import CITY, Factory, bring_to, events, load, make_uscc
from imports_support import do_import, write_csv, write_xlsx

from pipeline.history import feed, verify
from pipeline.history.replay import replay

A, B, C, D = (make_uscc("410106", n) for n in (51, 52, 53, 54))
HISTORY = ("统一社会信用代码", "企业名称", "称号", "认定日期", "有效期至", "批次")


def _import_a_mixed_history(session_factory: Factory, tmp_path: Path) -> None:
    bring_to(session_factory, D, "innovative")  # a firm the service wrote; the import continues its chain
    enrolled, _ = do_import(session_factory, write_csv(tmp_path / "培育库.csv", [
        (1, A, "甲公司", "", "2025-01-10", ""), (2, B, "乙公司", "", "2025-01-10", "")]), CITY, "enroll", apply=True)
    recognised, _ = do_import(session_factory, write_csv(tmp_path / "创新型.csv", [
        (1, A, "甲公司", "", "2025-03-01", "豫工信企业〔2025〕1号")]), CITY, "recognize_innovative", apply=True)
    provincial, _ = do_import(session_factory, write_csv(tmp_path / "省级.csv", [
        (1, D, "丁公司", "", "2023-06-30", "豫工信企业〔2023〕9号")]), CITY, "recognize_provincial", apply=True)
    backfilled, _ = do_import(session_factory, write_xlsx(tmp_path / "历史.xlsx", [
        (C, "丙公司", "创新型中小企业", "2019-03-01", "", "2019-豫-创新", ""),
        (C, "丙公司", "省级专精特新中小企业", "2020-05-01", "", "2020-豫-1", ""),
        # a re-review needs its document number (issue 13, correction 4)
        (C, "丙公司", "省级专精特新中小企业", "2023-04-20", "", "复核2023", "豫工信企业〔2023〕复核"),
    ], header=(*HISTORY, "文号")), CITY, "backfill", apply=True)
    assert all(s.applied for s in (enrolled, recognised, provincial, backfilled))


def test_imported_events_verify_and_replay_to_the_stored_firms(session_factory: Factory, tmp_path: Path) -> None:
    _import_a_mixed_history(session_factory, tmp_path)
    with session_factory() as session:
        report = verify.verify(session)
    assert report.ok, report.problems
    assert report.firms_checked == 4
    assert report.events_checked == sum(len(events(session_factory, code)) for code in (A, B, C, D))
    for code in (A, B, C, D):
        firm, chain = load(session_factory, code), events(session_factory, code)
        replayed = replay(chain)
        assert (replayed.state, replayed.barred_until, replayed.last_seq) == (firm.state, firm.barred_until,
                                                                             firm.last_seq)
        assert sorted((t.tier, t.recognized_on, t.valid_until, t.ended_on, t.end_reason) for t in firm.recognitions) \
            == sorted((t.tier, t.recognized_on, t.valid_until, t.ended_on, t.end_reason)
                      for t in replayed.recognitions)
        assert firm.version == len(chain)
        assert firm.last_effective_date == max(e.effective_date for e in chain)
    # 丙: the provincial title was renewed on re-review (its first window ended by the renewal), then lapsed.
    c_chain = [(e.trigger, e.effective_date.isoformat()) for e in events(session_factory, C)]
    assert c_chain == [("enroll", "2019-03-01"), ("recognize_innovative", "2019-03-01"),
                       ("recognize_provincial", "2020-05-01"), ("renew", "2023-04-20"), ("expire", "2026-05-01")]
    provincial = [t for t in load(session_factory, C).recognitions if t.tier == "provincial"]
    assert [(t.ended_on, t.end_reason) for t in provincial] == [(dt.date(2023, 4, 20), "renewed"),
                                                               (dt.date(2026, 5, 1), "expired")]


def test_imported_events_reach_the_change_feed_in_order(session_factory: Factory, dialect: str,
                                                        tmp_path: Path) -> None:
    _import_a_mixed_history(session_factory, tmp_path)
    with session_factory() as session:
        rows, _ = feed.page(session, CITY, feed.Cursor(-1, 0), limit=100)
    assert len(rows) == 2 + 1 + 5 + 3  # A, B, C imported; D's two from the service and one imported
    assert {(e.uscc, e.seq) for e in rows} == {(e.uscc, e.seq) for code in (A, B, C, D)
                                               for e in events(session_factory, code)}
    for code in (A, B, C, D):
        assert [e.seq for e in rows if e.uscc == code] == sorted(e.seq for e in rows if e.uscc == code)
    if dialect == "postgresql":
        assert all(e.tx_id is not None for e in rows)  # the BEFORE INSERT trigger fired for COPY too
