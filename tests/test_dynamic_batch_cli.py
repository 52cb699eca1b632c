"""``pipeline batch FILE.csv``: GB18030 or UTF-8, all-or-nothing or each, non-zero exit on any failure;
``pipeline sweep``: dry run by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Factory, bring_to, events, load, make_uscc

from pipeline.cli import main

HEADER = "uscc,trigger,effective_date,reason_code,reason,document_no,batch,valid_until\n"


def write(path: Path, rows: list[str], encoding: str) -> Path:
    path.write_bytes((HEADER + "".join(r + "\n" for r in rows)).encode(encoding))
    return path


def test_a_gb18030_file_all_or_nothing_writes_nothing_when_a_row_fails(
        database_url: str, session_factory: Factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, reserve = make_uscc("410106", 1), make_uscc("410106", 2)
    bring_to(session_factory, good, "innovative")
    bring_to(session_factory, reserve, "reserve")
    rows = [f"{firm},demote,2025-01-10,failed_review,复核未通过,,," for firm in (good, reserve)]
    csv_file = write(tmp_path / "复核.csv", rows, "gb18030")

    assert main(["--database-url", database_url, "batch", str(csv_file), "--mode", "all_or_nothing"]) == 1
    out = capsys.readouterr()
    assert "line 3" in out.out
    assert reserve in out.out
    assert load(session_factory, good).state == "innovative"

    assert main(["--database-url", database_url, "batch", str(csv_file), "--mode", "each"]) == 1
    assert load(session_factory, good).state == "reserve"
    assert "1 of 2 item(s) written" in capsys.readouterr().err


def test_a_utf8_file_that_is_all_good_exits_zero(database_url: str, session_factory: Factory, tmp_path: Path) -> None:
    uscc = make_uscc("410106", 3)
    bring_to(session_factory, uscc, "innovative")
    csv_file = write(tmp_path / "revoke.csv", [f"{uscc},revoke,2025-02-01,false_information,材料不实,撤〔2025〕1号,,"],
                     "utf-8-sig")
    assert main(["--database-url", database_url, "batch", str(csv_file)]) == 0
    firm = load(session_factory, uscc)
    assert (firm.state, str(firm.barred_until)) == ("revoked", "2028-02-01")


def test_the_sweep_command_is_a_dry_run_unless_told_to_apply(
        database_url: str, session_factory: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    uscc = make_uscc("410106", 4)
    bring_to(session_factory, uscc, "innovative")  # → 2025-08-31
    assert main(["--database-url", database_url, "sweep", "--as-of", "2025-09-02"]) == 0
    out = capsys.readouterr()
    assert f"{uscc}\tinnovative\tvalid_until 2025-08-31\tinnovative→reserve" in out.out
    assert "would expire 1 title(s)" in out.err
    assert len(events(session_factory, uscc)) == 2
    assert main(["--database-url", database_url, "sweep", "--as-of", "2025-09-02", "--apply"]) == 0
    assert load(session_factory, uscc).state == "reserve"
    assert "innovative 1" in capsys.readouterr().err
