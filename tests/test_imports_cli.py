"""`pipeline import` and `pipeline export`: dry run by default, exit 1 on problem rows, report and lists as files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers import Factory, events, make_uscc
from imports_support import bad_check, write_csv

from pipeline.cli import main

A, B = make_uscc("410106", 41), make_uscc("410106", 42)


def test_import_dry_run_then_apply_then_export(database_url: str, session_factory: Factory, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "培育库.csv", [(1, A, "甲公司", "", "2025-01-10", ""),
                                               (2, B, "乙公司", "", "2025-01-10", "")])
    db = ["--database-url", database_url]
    assert main([*db, "import", str(path), "--action", "enroll"]) == 0
    assert "dry run, nothing written: 2 rows: 2 to write" in capsys.readouterr().out
    assert events(session_factory, A) == []

    report = tmp_path / "report.csv"
    assert main([*db, "import", str(path), "--action", "enroll", "--apply", "--report", str(report)]) == 0
    assert "imported 培育库.csv as run" in capsys.readouterr().out
    with report.open(encoding="utf-8-sig") as stream:
        assert [row["结果"] for row in csv.DictReader(stream)] == ["ok", "ok"]
    assert [e.trigger for e in events(session_factory, A)] == ["enroll"]

    assert main([*db, "import", str(path), "--action", "enroll", "--apply"]) == 0
    assert "was already imported" in capsys.readouterr().out

    out = tmp_path / "企业.csv"
    assert main([*db, "export", "enterprises", "--output", str(out)]) == 0
    with out.open(encoding="utf-8-sig") as stream:
        assert sorted(row["统一社会信用代码"] for row in csv.DictReader(stream)) == sorted([A, B])


def test_apply_with_a_bad_row_exits_1_naming_it(database_url: str, session_factory: Factory, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "培育库.csv", [(1, A, "甲公司", "", "2025-01-10", ""),
                                               (2, bad_check(B), "乙公司", "", "2025-01-10", "")])
    assert main(["--database-url", database_url, "import", str(path), "--action", "enroll", "--apply"]) == 1
    out = capsys.readouterr().out
    assert f"row 4: {bad_check(B)} 乙公司: 第18位校验码" in out
    assert "nothing written" in out
    assert events(session_factory, A) == []
