"""Imports and the awards ledger: a backfill's history is recorded as settled outside the system by default (it
must not appear as a debt); `--awards owed` makes it owed, `--awards none` derives nothing; a recognition list is
owed by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import ADMIN, Factory, make_uscc, walk
from imports_support import do_import, write_csv
from sqlalchemy import select

from pipeline.awards import reads
from pipeline.cli import main
from pipeline.db import unit_of_work
from pipeline.history.verify import verify
from pipeline.models import Entitlement

HEADER = ("统一社会信用代码", "企业名称", "称号", "认定日期", "有效期至", "批次")
A, B, C, D = (make_uscc("410102", n) for n in (1601, 1602, 1603, 1604))  # 郑州市中原区: the Zhengzhou pack


def _backfill(tmp_path: Path, name: str, *firms: str) -> Path:
    rows = []
    for firm in firms:
        rows += [(firm, f"企业{firm[-5:]}", "创新型中小企业", "2022-03-01", "", "2022-创新"),
                 (firm, f"企业{firm[-5:]}", "省级专精特新中小企业", "2023-03-01", "", "2023-豫-1")]
    return write_csv(tmp_path / name, rows, header=HEADER)


def _entitlements(factory: Factory, uscc: str) -> list[Entitlement]:
    with factory() as session:
        return list(session.scalars(select(Entitlement).where(Entitlement.uscc == uscc)))


def test_backfill_settles_by_default_owes_when_told_and_none_derives_nothing(
        session_factory: Factory, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary, _ = do_import(session_factory, _backfill(tmp_path, "history.csv", A), ADMIN, "backfill", apply=False)
    assert (summary.entitlements, _entitlements(session_factory, A)) == (1, [])  # a dry run reports, writes nothing
    summary, _ = do_import(session_factory, _backfill(tmp_path, "history.csv", A), ADMIN, "backfill", apply=True)
    assert summary.applied
    assert "awards" not in summary.options  # the default leaves earlier runs' option keys unchanged
    (settled,) = _entitlements(session_factory, A)
    assert (settled.net_amount, settled.status, settled.settled_outside_system) == (500_000, "paid", True)
    assert [share["status"] for share in settled.payers] == ["paid"]
    summary, _ = do_import(session_factory, _backfill(tmp_path, "none.csv", B), ADMIN, "backfill", apply=True,
                           awards="none")
    assert (summary.applied, summary.entitlements, _entitlements(session_factory, B)) == (True, 0, [])
    db = ["--database-url", database_url]
    assert main([*db, "import", str(_backfill(tmp_path, "owed.csv", C)), "--action", "backfill", "--awards", "owed",
                 "--apply"]) == 0
    assert "1 entitlements (owed)" in capsys.readouterr().out
    (owed,) = _entitlements(session_factory, C)
    assert (owed.status, owed.settled_outside_system) == ("entitled", False)


def test_a_recognition_list_is_owed_by_default(session_factory: Factory, tmp_path: Path) -> None:
    walk(session_factory, D, [("enroll", "2022-01-10"), ("recognize_innovative", "2022-02-01")])
    path = write_csv(tmp_path / "省级名单.csv", [(1, D, "丁公司", "郑州市中原区", "2023-03-01", "豫工信〔2023〕1号")])
    summary, rows = do_import(session_factory, path, ADMIN, "recognize_provincial", apply=True)
    assert summary.applied, rows
    (owed,) = _entitlements(session_factory, D)
    assert (owed.award_id, owed.net_amount, owed.status) == ("provincial", 500_000, "entitled")


def test_a_key_little_giant_list_carries_the_funds_that_sanmenxia_matches(
        session_factory: Factory, tmp_path: Path) -> None:
    firm = make_uscc("411202", 1605)  # 三门峡市湖滨区
    walk(session_factory, firm, [("enroll", "2022-01-10")])
    header = ("序号", "统一社会信用代码", "企业名称", "所在地区", "认定日期", "文号", "项目资金（元）")
    row = (1, firm, "戊公司", "三门峡市湖滨区", "2023-06-01", "财建〔2023〕1号", "6,000,000")
    path = write_csv(tmp_path / "重点小巨人.csv", [row], header=header)
    summary, rows = do_import(session_factory, path, ADMIN, "grant_side_title", apply=True, kind="key_little_giant")
    assert (summary.applied, summary.entitlements) == (True, 1), rows
    (matched,) = _entitlements(session_factory, firm)
    assert (matched.award_id, matched.net_amount, matched.payers[0]["region_code"]) == (
        "key_little_giant_matching", 6_000_000, "411202")


def test_sync_of_a_backfilled_history_derives_what_the_live_path_derived(session_factory: Factory,
                                                                          tmp_path: Path) -> None:
    live, synced = make_uscc("410102", 1605), make_uscc("410102", 1606)
    walk(session_factory, live, [("enroll", "2022-01-10"), ("recognize_innovative", "2022-03-01"),
                                 ("recognize_provincial", "2023-03-01"), ("recognize_national", "2024-04-01")])
    rows = [(synced, "戊公司", label, day, "", batch) for label, day, batch in (
        ("创新型中小企业", "2022-03-01", "2022-创新"), ("省级专精特新中小企业", "2023-03-01", "2023-豫-1"),
        ("专精特新“小巨人”企业", "2024-04-01", "2024-国-1"))]
    summary, report = do_import(session_factory, write_csv(tmp_path / "h.csv", rows, header=HEADER), ADMIN,
                                "backfill", apply=True, awards="none")
    assert summary.applied, report
    assert _entitlements(session_factory, synced) == []
    with unit_of_work(session_factory) as session:  # provincial and national in one run: the top-up sees the first
        created = reads.sync(session, actor=ADMIN, apply=True, usccs=[synced]).created
    assert len(created) == len(_entitlements(session_factory, live)) >= 2

    def comparable(entitlement: Entitlement) -> tuple[object, ...]:
        return (entitlement.policy_id, entitlement.award_id, entitlement.trigger, entitlement.gross_amount,
                entitlement.net_amount, [share["amount"] for share in entitlement.payers], len(entitlement.offsets),
                entitlement.superseded_by is None, entitlement.status)

    assert sorted(map(comparable, _entitlements(session_factory, synced))) == sorted(
        map(comparable, _entitlements(session_factory, live)))
    national = next(e for e in _entitlements(session_factory, synced) if e.award_id == "national"
                    and e.policy_id == "zhengzhou-2022-36")
    provincial = next(e for e in _entitlements(session_factory, synced) if e.award_id == "provincial"
                      and e.policy_id == "zhengzhou-2022-36")
    assert (national.net_amount, national.offsets[0]["entitlement_id"]) == (1_500_000, provincial.id)
    with unit_of_work(session_factory) as session:
        assert verify(session, uscc=synced).problems == []  # each entitlement's sealed first record included


def test_a_sync_across_chunks_derives_each_firm_as_alone_in_firm_order_and_a_second_run_creates_nothing(
        session_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "SYNC_CHUNK", 2)  # six firms: three chunks, a top-up's firm alone in one or not
    paying = [make_uscc("410102", n) for n in range(1611, 1616)]
    elsewhere = make_uscc("410302", 1616)  # 洛阳市老城区: no pack covers it, so no history is read
    rows = [(firm, f"企业{firm[-5:]}", label, day, "", batch) for firm in [*paying, elsewhere]
            for label, day, batch in (("创新型中小企业", "2022-03-01", "2022-创新"),
                                      ("省级专精特新中小企业", "2023-03-01", "2023-豫-1"),
                                      ("专精特新“小巨人”企业", "2024-04-01", "2024-国-1"))]
    summary, report = do_import(session_factory, write_csv(tmp_path / "h.csv", rows, header=HEADER), ADMIN,
                                "backfill", apply=True, awards="none")
    assert summary.applied, report
    with unit_of_work(session_factory) as session:
        synced = reads.sync(session, actor=ADMIN, apply=True, usccs=[*paying, elsewhere])
    assert synced.firms_checked == 6
    created = [(item["id"], item["uscc"], item["achievement"]["seq"]) for item in synced.created]
    assert [item[0] for item in created] == sorted(item[0] for item in created)  # ids drawn in derivation order
    assert [item[1:] for item in created] == sorted(item[1:] for item in created)  # firm by firm, event by event

    def comparable(entitlement: Entitlement) -> tuple[Any, ...]:
        return (entitlement.id, entitlement.policy_id, entitlement.award_id, entitlement.achievement_seq,
                entitlement.gross_amount, entitlement.net_amount, entitlement.payers, entitlement.offsets,
                entitlement.superseded_by, entitlement.status)

    first = sorted(_entitlements(session_factory, paying[0]), key=lambda e: e.id)
    assert len(first) >= 2
    assert any(e.offsets for e in first)  # the national top-up offsets the provincial award
    for firm in paying:  # the same history earns the same, whatever chunk the firm was in
        mine = sorted(_entitlements(session_factory, firm), key=lambda e: e.id)
        shift = mine[0].id - first[0].id
        assert [comparable(e) for e in mine] == [_shifted(comparable(e), shift) for e in first]
        with unit_of_work(session_factory) as session:
            assert verify(session, uscc=firm).problems == []
    assert _entitlements(session_factory, elsewhere) == []
    assert sorted(item[0] for item in created) == sorted(
        e.id for firm in paying for e in _entitlements(session_factory, firm))
    with unit_of_work(session_factory) as session:  # idempotent, by the file's firms and over every firm
        again = reads.sync(session, actor=ADMIN, apply=True, usccs=[*paying, elsewhere])
        everyone = reads.sync(session, actor=ADMIN, apply=True)
    assert (again.firms_checked, again.created, everyone.firms_checked, everyone.created) == (6, [], 6, [])


def _shifted(values: tuple[Any, ...], shift: int) -> tuple[Any, ...]:
    """An entitlement's comparable values with its id and the ids it names (offsets, superseded_by) moved by
    ``shift``."""
    entitlement_id, policy_id, award_id, seq, gross, net, payers, offsets, superseded_by, status = values
    moved = [{**offset, "entitlement_id": offset["entitlement_id"] + shift} for offset in offsets]
    return (entitlement_id + shift, policy_id, award_id, seq, gross, net, payers, moved,
            None if superseded_by is None else superseded_by + shift, status)
