"""Long CLI work shows a bar on a terminal, plain periodic lines with ``--progress`` elsewhere, and nothing
otherwise (cron logs stay quiet)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from helpers import make_uscc
from imports_support import write_csv

from pipeline.cli import main
from pipeline.cli.progress import Progress

A, B = make_uscc("410106", 51), make_uscc("410106", 52)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_the_count_the_rate_and_the_time_left() -> None:
    stream = Terminal()
    with Progress("导入 import", "rows", requested=False, total=200, stream=stream, every=0) as progress:
        progress.update(100)
    shown = stream.getvalue()
    assert "导入 import" in shown
    assert re.search(r"100/200 \[\d\d:\d\d<\d\d:\d\d", shown), shown  # done/total [elapsed<left
    assert "rows/s" in shown


def test_elsewhere_plain_lines_say_the_count_the_rate_and_the_time_left_only_when_asked() -> None:
    quiet = io.StringIO()
    with Progress("核验 verify", "firms", requested=False, total=10, stream=quiet) as progress:
        progress.update(5)
    assert quiet.getvalue() == ""
    asked = io.StringIO()
    with Progress("核验 verify", "firms", requested=True, total=10, stream=asked, every=0) as progress:
        progress.update(5)
    first, last = asked.getvalue().splitlines()
    assert re.fullmatch(r"核验 verify: 5/10 firms in \d+ s \([\d,]+ firms/s, about [\d,]+ s left\)", first), first
    assert last.startswith("核验 verify: 5/5 firms")


def test_import_sweep_verify_export_and_batch_are_quiet_in_cron_and_report_with_progress(
        database_url: str, session_factory: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", database_url]
    path = write_csv(tmp_path / "培育库.csv", [(1, A, "甲公司", "", "2022-01-10", ""),
                                               (2, B, "乙公司", "", "2022-01-10", "")])
    assert main([*db, "import", str(path), "--action", "enroll", "--apply"]) == 0
    assert capsys.readouterr().err == ""
    batch = tmp_path / "batch.csv"
    batch.write_text("uscc,trigger,effective_date,reason_code,reason,document_no,batch,valid_until\n"
                     f"{A},recognize_innovative,2022-02-01,,,豫工信〔2022〕1号,,\n", encoding="utf-8")
    commands = {
        "批量 batch": ["batch", str(batch)],
        "到期清理 sweep": ["sweep", "--apply", "--as-of", "2025-06-30", "--no-flags"],
        "核验 verify": ["audit", "verify"],
        "导出 export": ["export", "enterprises", "--output", str(tmp_path / "企业.csv")],
    }
    for label, argv in commands.items():
        assert main([*db, *argv, "--progress"]) == 0, label
        err = capsys.readouterr().err
        assert re.search(rf"^{label}: \d+/\d+ \w+ in \d+ s \(", err, re.M), (label, err)
    again = write_csv(tmp_path / "培育库2.csv", [(1, make_uscc("410106", 53), "丙公司", "", "2022-01-10", "")])
    assert main([*db, "import", str(again), "--action", "enroll", "--apply", "--progress"]) == 0
    assert re.search(r"^导入 import: 1/1 rows in \d+ s \(", capsys.readouterr().err, re.M)
